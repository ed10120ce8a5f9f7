"""The repository layout: where each object lives, kustomizations, Argo CD and Flux objects.

Layout of the rendered repository (every path below is generated, and listed in
``.gitops/generated.json``)::

    envs/<env>/kustomization.yaml                      resources: the layers, in order
    envs/<env>/<layer>/kustomization.yaml              resources: the layer's files, apply order
    envs/<env>/<layer>/<namespace|_cluster>/<kind>-<name>.yaml   one object per file
    argocd/kustomization.yaml                          every Argo CD object
    argocd/appproject-<env>.yaml                       AppProject: the env's cluster, namespaces
    argocd/application-<env>.yaml                      Application syncing envs/<env>
    flux/<env>/kustomization.yaml                      the env's Flux objects (kustomize)
    flux/<env>/kustomization-<env>-<layer>.yaml        Flux Kustomization per layer

Layers are ``guardrails`` (the environment's policies, quotas, namespaces) then
``workloads`` (the blueprints). Every object carries an ``argocd.argoproj.io/sync-wave``:
CRDs -30, Namespaces -20, guardrails -10..-1, workloads 0 and later; Flux applies the
guardrails Kustomization first because the workloads one ``dependsOn`` it.

Purely data-manipulative: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitops.constructs.base import stamp
from gitops.core.errors import RenderError
from gitops.core.keys import Manifest, ResourceKey, key_of, kind_rank
from gitops.core.labels import MANAGED_BY, provenance
from gitops.core.paths import ENVS_DIR, safe_component
from gitops.inputs.environments import Environment

#: Layer of the environment's guardrails, applied first.
GUARDRAILS = "guardrails"
#: Layer of the blueprints' objects.
WORKLOADS = "workloads"
#: Layers in apply order.
LAYERS = (GUARDRAILS, WORKLOADS)
#: Directory of cluster-scoped objects inside a layer (not a valid namespace name).
CLUSTER_DIR = "_cluster"
#: The blueprint name recorded on the objects of an environment's own guardrails.
GUARDRAILS_BLUEPRINT = "_guardrails"
#: The blueprint name recorded on the Argo CD and Flux objects (they come from the layout).
LAYOUT_BLUEPRINT = "_layout"
#: Namespaces of the Argo CD and Flux objects.
ARGOCD_NAMESPACE = "argocd"
FLUX_NAMESPACE = "flux-system"
#: GitRepository (bootstrapped by ``flux bootstrap``) the Flux Kustomizations read.
FLUX_SOURCE = "flux-system"
#: Annotation ordering objects inside an Argo CD sync.
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
#: File name kustomize reads in every directory it builds.
KUSTOMIZATION = "kustomization.yaml"

# DNS-1123 subdomain: no "/", no "..", no leading "." (so never ".git"), never absolute.
_PATH_COMPONENT = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def environment_dir(env: str) -> str:
    """The directory (relative to the repository root) of an environment's manifests."""
    return f"{ENVS_DIR}/{env}"


def layer_of(manifest: Manifest) -> str:
    """The layer an object belongs to: the environment's guardrails, or workloads."""
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    if annotations.get("gitops.dev/blueprint") == GUARDRAILS_BLUEPRINT:
        return GUARDRAILS
    return WORKLOADS


def object_path(env: str, layer: str, manifest: Manifest) -> str:
    """The stable path of one object: ``envs/<env>/<layer>/<ns|_cluster>/<kind>-<name>.yaml``.

    Raises:
        RenderError: the kind, namespace or name would not be a safe path component
            (``..``, ``/``, ``.git``, absolute paths...); the object's source is named.
    """
    key = key_of(manifest, f"environment {env}")
    for field, value in (("metadata.namespace", key.namespace), ("metadata.name", key.name)):
        if value and (len(value) > 253 or not _PATH_COMPONENT.match(value)):
            raise RenderError(
                f"{key} ({provenance(manifest)}): {field} {value!r} is not a DNS-1123 "
                "subdomain and cannot name a file in the repository"
            )
    if not _KIND.match(key.kind):
        raise RenderError(
            f"{key} ({provenance(manifest)}): kind {key.kind!r} cannot name a file "
            "(expected letters and digits)"
        )
    # Names Kubernetes allows may not fit a checkout (a 253-character name, a namespace
    # called "con"): both parts are made safe, deterministically (see gitops.core.paths).
    where = safe_component(key.namespace) if key.namespace else CLUSTER_DIR
    file_name = safe_component(f"{key.kind.lower()}-{key.name}", ".yaml")
    return f"{environment_dir(env)}/{layer}/{where}/{file_name}"


def sync_wave(layer: str, kind: str) -> int:
    """The Argo CD sync wave of an object: CRDs, Namespaces, guardrails, then workloads."""
    if kind == "CustomResourceDefinition":
        return -30
    if kind == "Namespace":
        return -20
    if layer == GUARDRAILS:
        return min(kind_rank(kind), 9) - 10
    return kind_rank(kind)


def with_sync_wave(manifest: Manifest, layer: str) -> Manifest:
    """Return a copy of ``manifest`` whose annotations carry its sync wave (input untouched)."""
    metadata = dict(manifest.get("metadata") or {})
    annotations = dict(metadata.get("annotations") or {})
    annotations[SYNC_WAVE] = str(sync_wave(layer, str(manifest.get("kind"))))
    metadata["annotations"] = annotations
    out = dict(manifest)
    out["metadata"] = metadata
    return out


def kustomization(resources: Iterable[str]) -> Manifest:
    """A ``kustomization.yaml`` listing ``resources`` in the given (apply) order."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }


def argocd_objects(env: Environment, keys: Sequence[ResourceKey]) -> list[Manifest]:
    """The AppProject and Application deploying ``envs/<env>`` to the environment's cluster.

    The project allows exactly the environment's cluster, the namespaces its objects use,
    and the cluster-scoped kinds it renders.
    """
    namespaces = sorted({*env.namespaces, *(k.namespace for k in keys if k.namespace)})
    cluster_kinds = sorted({(k.group, k.kind) for k in keys if not k.namespace})
    project: Manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": layout_metadata(env.name, ARGOCD_NAMESPACE, env.name),
        "spec": {
            "description": f"Environment {env.name} on cluster {env.cluster.name}",
            "sourceRepos": [env.repo_url],
            "destinations": [
                {"name": env.cluster.name, "server": env.cluster.server, "namespace": ns}
                for ns in namespaces
            ],
            "clusterResourceWhitelist": [{"group": g, "kind": k} for g, k in cluster_kinds],
        },
    }
    application: Manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            **layout_metadata(env.name, ARGOCD_NAMESPACE, env.name),
            # Deleting the Application prunes what it deployed.
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": env.name,
            "source": {
                "repoURL": env.repo_url,
                "targetRevision": "HEAD",
                "path": environment_dir(env.name),
            },
            "destination": {"server": env.cluster.server, "namespace": env.namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["PruneLast=true"],
            },
        },
    }
    return [project, application]


def flux_objects(
    env: Environment, layers: Sequence[str], *, paths: Mapping[str, str] | None = None
) -> list[Manifest]:
    """One Flux Kustomization per layer, each layer depending on the one before it.

    ``paths`` gives each layer's directory (a fleet cluster's base or overlay); by default
    ``envs/<env>/<layer>``.
    """
    out: list[Manifest] = []
    previous: str | None = None
    for layer in layers:
        name = f"{env.name}-{layer}"
        spec: dict[str, Any] = {
            "interval": "10m",
            "path": f"./{(paths or {}).get(layer) or f'{environment_dir(env.name)}/{layer}'}",
            "prune": True,
            # Wait for readiness, so a layer depending on this one starts only when it is up.
            "wait": True,
            "timeout": "5m",
            "sourceRef": {"kind": "GitRepository", "name": FLUX_SOURCE},
        }
        if previous is not None:
            spec["dependsOn"] = [{"name": previous}]
        out.append(
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": layout_metadata(name, FLUX_NAMESPACE, env.name),
                "spec": spec,
            }
        )
        previous = name
    return out


def argocd_index(files: Iterable[str]) -> list[str]:
    """The ``argocd/`` files in index order: per environment, the project before its apps."""
    rank = {"appproject": 0, "application": 1, "applicationset": 2}

    def key(name: str) -> tuple[str, int, str]:
        kind, _, env = name.removesuffix(".yaml").partition("-")
        return (env, rank.get(kind, 3), name)

    return sorted(files, key=key)


def layout_metadata(name: str, namespace: str, env: str) -> dict[str, Any]:
    """``metadata`` of an Argo CD or Flux object the layout generates for ``env``."""
    obj: Manifest = {"metadata": {"name": name, "namespace": namespace}}
    stamp(obj, f"layout/{env}", LAYOUT_BLUEPRINT, env)
    obj["metadata"]["labels"] = {"app.kubernetes.io/managed-by": MANAGED_BY}
    return dict(obj["metadata"])


def layered(env: str, manifests: Sequence[Manifest]) -> Mapping[str, list[Manifest]]:
    """Split an environment's objects into layers (kept in their given order)."""
    out: dict[str, list[Manifest]] = {layer: [] for layer in LAYERS}
    for manifest in manifests:
        out[layer_of(manifest)].append(manifest)
    return {layer: objs for layer, objs in out.items() if objs}
