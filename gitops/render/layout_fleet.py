"""The files of one environment, or of one fleet, in the repository (pure).

A single-cluster environment is laid out as :mod:`gitops.render.layout` describes. A fleet
(``clusters:`` in its file) is laid out as a kustomize base and per-cluster overlays
(:mod:`gitops.render.fleet`)::

    envs/<env>/base/kustomization.yaml                      the layers
    envs/<env>/base/<layer>/...                             objects every cluster shares
    envs/<env>/clusters/<cluster>/kustomization.yaml        only for a cluster that differs
    envs/<env>/clusters/<cluster>/<layer>/kustomization.yaml   ../../../base/<layer> + patches
    envs/<env>/clusters/<cluster>/<layer>/patches/<kind>-<ns>-<name>.yaml   RFC 6902
    envs/<env>/clusters/<cluster>/<layer>/<ns|_cluster>/<kind>-<name>.yaml  its own objects
    argocd/appproject-<env>.yaml                            every cluster as a destination
    argocd/applicationset-<env>.yaml                        list generator: one element per
                                                            cluster (name, server, path)
    flux/<env>/<cluster>/kustomization.yaml                 the cluster's Flux objects: its
    flux/<env>/<cluster>/kustomization-<env>-<layer>.yaml   path per layer (base or overlay)

Argo CD: an ApplicationSet with a *list* generator, because the fleet file already names
each cluster and the path it syncs (the base, or its overlay); the *cluster* generator
would need every cluster registered in Argo CD with matching labels and one directory per
cluster. Flux: the usual one directory per cluster, bootstrapped on that cluster.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops.core.errors import RenderError
from gitops.core.keys import Manifest, key_of
from gitops.core.labels import provenance
from gitops.inputs.environments import Environment
from gitops.render import delivery, fleet, layout

#: ``(repository path, document)`` pairs, in a deterministic order.
Files = list[tuple[str, Any]]


def environment_files(env: Environment, manifests: Sequence[Manifest]) -> Files:
    """The files of a single-cluster environment: objects, kustomizations, Argo CD, Flux."""
    out: Files = []
    layers = layout.layered(env.name, manifests)
    out += _layer_files(layout.environment_dir(env.name), env.name, layers)
    keys = [key_of(obj) for obj in manifests]
    budget = delivery.startup_budget(manifests)
    for obj in layout.argocd_objects(env, keys):
        if obj["kind"] == "Application":
            obj = delivery.tune_application(obj, budget, env.diff_ignore)
        out.append((f"argocd/{obj['kind'].lower()}-{env.name}.yaml", obj))
    out += _flux_files(f"flux/{env.name}", _tuned_flux(env, list(layers), budget))
    return out


def _tuned_flux(
    env: Environment,
    layers: Sequence[str],
    budget: int,
    paths: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """Flux Kustomizations per layer with the delivery settings of :mod:`gitops.render.delivery`."""
    objects = layout.flux_objects(env, layers, paths=paths)
    return [
        delivery.tune_kustomization(obj, budget, layer == layout.WORKLOADS)
        for layer, obj in zip(layers, objects, strict=True)
    ]


def fleet_files(
    name: str, members: Sequence[Environment], objects: Mapping[str, Sequence[Manifest]]
) -> Files:
    """The files of a fleet: one base, an overlay per differing cluster, Argo CD, Flux.

    Args:
        name: the environment (fleet) name.
        members: the fleet's clusters as environments (sorted by cluster name).
        objects: each cluster's rendered objects, keyed by cluster name.
    """
    env_dir = layout.environment_dir(name)
    # Clusters rendered alike hold the same dicts (gitops.render.share): each distinct
    # object is waved, keyed and budgeted once, so a cluster costs a lookup per object.
    # By id(): every object stays referenced by ``objects`` for the whole call.
    waved: dict[int, Manifest] = {}
    for manifests in objects.values():
        for obj in manifests:
            if id(obj) not in waved:
                waved[id(obj)] = layout.with_sync_wave(obj, layout.layer_of(obj))
    committed = {
        cluster: [waved[id(obj)] for obj in manifests] for cluster, manifests in objects.items()
    }
    parts = fleet.split(committed)
    out: Files = []
    base_layers = layout.layered(name, parts.base)
    out += _layer_files(f"{env_dir}/{fleet.BASE_DIR}", name, base_layers, waved=True)
    paths: dict[str, dict[str, str]] = {}
    for env in members:
        cluster = env.cluster.name
        overlay = f"{env_dir}/{fleet.CLUSTERS_DIR}/{cluster}"
        own = layout.layered(name, parts.extra[cluster])
        patched: dict[str, list[fleet.Patch]] = {}
        for patch in parts.patches[cluster]:
            layer = _layer_of_key(base_layers, patch)
            patched.setdefault(layer, []).append(patch)
        layer_paths: dict[str, str] = {}
        for layer in layout.LAYERS:
            if layer not in own and layer not in patched:
                if layer in base_layers:
                    layer_paths[layer] = f"{env_dir}/{fleet.BASE_DIR}/{layer}"
                continue
            layer_paths[layer] = f"{overlay}/{layer}"
            out += _overlay_layer(
                f"{overlay}/{layer}",
                name,
                layer,
                own.get(layer, []),
                patched.get(layer, []),
                base=layer in base_layers,
            )
        if parts.differs(cluster):
            entries = [
                path.removeprefix(f"{overlay}/")
                if path.startswith(overlay)
                else f"../../{fleet.BASE_DIR}/{layer}"
                for layer, path in layer_paths.items()
            ]
            out.append((f"{overlay}/{layout.KUSTOMIZATION}", layout.kustomization(entries)))
            paths[cluster] = {"env": overlay, **layer_paths}
        else:
            paths[cluster] = {"env": f"{env_dir}/{fleet.BASE_DIR}", **layer_paths}
    distinct = {id(obj): obj for manifests in objects.values() for obj in manifests}
    keys = [key_of(obj) for obj in distinct.values()]
    by_set: dict[tuple[int, ...], int] = {}
    budgets: dict[str, int] = {}
    for cluster, manifests in objects.items():
        ids = tuple(map(id, manifests))
        if ids not in by_set:
            by_set[ids] = delivery.startup_budget(manifests)
        budgets[cluster] = by_set[ids]
    for obj in fleet_argocd_objects(name, members, keys, {c: p["env"] for c, p in paths.items()}):
        if obj["kind"] == "ApplicationSet":  # its template is an Application's
            template = obj["spec"]["template"]
            tuned = delivery.tune_application(
                {"spec": template["spec"]}, max(budgets.values()), members[0].diff_ignore
            )
            obj["spec"]["template"] = {**template, "spec": tuned["spec"]}
        out.append((f"argocd/{obj['kind'].lower()}-{name}.yaml", obj))
    for env in members:
        cluster = env.cluster.name
        layers = {k: v for k, v in paths[cluster].items() if k != "env"}
        flux = _tuned_flux(env, list(layers), budgets[cluster], layers)
        out += _flux_files(f"flux/{name}/{cluster}", flux)
    return out


def _layer_of_key(layers: Mapping[str, Sequence[Manifest]], patch: fleet.Patch) -> str:
    for layer, objs in layers.items():
        if any(key_of(obj) == patch.key for obj in objs):
            return layer
    raise RenderError(f"fleet patch for {patch.key}: object not in the base")  # unreachable


def _layer_files(
    directory: str,
    env: str,
    layers: Mapping[str, Sequence[Manifest]],
    *,
    waved: bool = False,
) -> Files:
    """Object files and kustomizations of ``directory/<layer>/``, plus ``directory``'s own."""
    out: Files = []
    for layer, objects in layers.items():
        entries: list[str] = []
        owners: dict[str, Manifest] = {}
        for obj in objects:
            path = _object_path(directory, env, layer, obj)
            if path in owners:
                raise RenderError(
                    f"{key_of(obj)} ({provenance(obj)}) and {key_of(owners[path])} "
                    f"({provenance(owners[path])}) would both be written to {path}"
                )
            owners[path] = obj
            out.append((path, obj if waved else layout.with_sync_wave(obj, layer)))
            entries.append(path.removeprefix(f"{directory}/{layer}/"))
        out.append((f"{directory}/{layer}/{layout.KUSTOMIZATION}", layout.kustomization(entries)))
    out.append((f"{directory}/{layout.KUSTOMIZATION}", layout.kustomization(list(layers))))
    return out


def _object_path(directory: str, env: str, layer: str, obj: Manifest) -> str:
    # layout.object_path checks the components; the prefix is swapped for ``directory``.
    checked = layout.object_path(env, layer, obj)
    return f"{directory}/{checked.removeprefix(layout.environment_dir(env) + '/')}"


def _overlay_layer(
    directory: str,
    env: str,
    layer: str,
    own: Sequence[Manifest],
    patches: Sequence[fleet.Patch],
    *,
    base: bool,
) -> Files:
    out: Files = []
    resources = [f"../../../{fleet.BASE_DIR}/{layer}"] if base else []
    for obj in own:
        # ``directory`` is ``<overlay>/<layer>``; object paths are built from the overlay.
        path = _object_path(directory.rsplit("/", 1)[0], env, layer, obj)
        out.append((path, obj))
        resources.append(path.removeprefix(f"{directory}/"))
    document = layout.kustomization(resources)
    if patches:
        document["patches"] = [
            {"path": fleet.patch_file(p.key), "target": fleet.patch_target(p.key)} for p in patches
        ]
        for patch in patches:
            out.append(
                (f"{directory}/{fleet.patch_file(patch.key)}", [dict(op) for op in patch.ops])
            )
    out.append((f"{directory}/{layout.KUSTOMIZATION}", document))
    return out


def _flux_files(directory: str, objects: Sequence[Manifest]) -> Files:
    out: Files = []
    entries: list[str] = []
    for obj in objects:
        file_name = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        out.append((f"{directory}/{file_name}", obj))
        entries.append(file_name)
    out.append((f"{directory}/{layout.KUSTOMIZATION}", layout.kustomization(entries)))
    return out


def fleet_argocd_objects(
    name: str,
    members: Sequence[Environment],
    keys: Sequence[Any],
    paths: Mapping[str, str],
) -> list[Manifest]:
    """The fleet's AppProject (every cluster a destination) and its ApplicationSet."""
    first = members[0]
    namespaces = sorted({*first.namespaces, *(k.namespace for k in keys if k.namespace)})
    cluster_kinds = sorted({(k.group, k.kind) for k in keys if not k.namespace})
    by_server = bool(first.cluster.server)
    destinations = [
        {**_destination(env, by_server), "namespace": ns} for env in members for ns in namespaces
    ]
    project: Manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": layout.layout_metadata(name, layout.ARGOCD_NAMESPACE, name),
        "spec": {
            "description": f"Environment {name} on {len(members)} clusters",
            "sourceRepos": [first.repo_url],
            "destinations": destinations,
            "clusterResourceWhitelist": [{"group": g, "kind": k} for g, k in cluster_kinds],
        },
    }
    elements = [
        {
            "cluster": env.cluster.name,
            **_destination(env, by_server),
            "path": paths[env.cluster.name],
        }
        for env in members
    ]
    destination = {"server": "{{.server}}"} if by_server else {"name": "{{.name}}"}
    application_set: Manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": layout.layout_metadata(name, layout.ARGOCD_NAMESPACE, name),
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": {
                "metadata": {
                    "name": f"{name}-{{{{.cluster}}}}",
                    "labels": {"app.kubernetes.io/managed-by": "gitops"},
                    # Deleting an Application prunes what it deployed.
                    "finalizers": ["resources-finalizer.argocd.argoproj.io"],
                },
                "spec": {
                    "project": name,
                    "source": {
                        "repoURL": first.repo_url,
                        "targetRevision": "HEAD",
                        "path": "{{.path}}",
                    },
                    "destination": {**destination, "namespace": first.namespace},
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["PruneLast=true"],
                    },
                },
            },
        },
    }
    return [project, application_set]


def _destination(env: Environment, by_server: bool) -> dict[str, str]:
    if by_server:
        if not env.cluster.server:
            raise RenderError(
                f"{env.source}: cluster {env.cluster.name}: every cluster of a fleet gives "
                "server, or every one gives context (Argo CD destinations are one or the other)"
            )
        return {"server": env.cluster.server}
    if env.cluster.server:
        raise RenderError(
            f"{env.source}: cluster {env.cluster.name}: every cluster of a fleet gives "
            "server, or every one gives context (Argo CD destinations are one or the other)"
        )
    return {"name": env.cluster.context or env.cluster.name}
