"""Blueprints x environments -> manifests -> the repository tree (no Git).

- :func:`render_environment` and :func:`render_tree` are pure (no I/O): constructs in,
  manifests and ``{path: bytes}`` out, byte-identical for identical inputs.
- :func:`render_environments` reads the input directories, then renders.
- :func:`check_policies` runs the guardrails and capacity checks on the rendered set; the
  YAML and guardrail outcomes of unchanged objects come from :mod:`gitops.render.cache`.

:func:`gitops.workflows.render.render_to_repo` commits what this renders.

cdk8s is never imported here: it starts only if a blueprint adds a cdk8s chart.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.constructs.base import Construct, Scope, check_unique
from gitops.core.errors import RenderError, ValidationError
from gitops.core.keys import Manifest, canonical_order, key_of
from gitops.core.labels import provenance
from gitops.core.suggest import did_you_mean
from gitops.core.yaml_io import dump_one, non_json_path
from gitops.inputs.blueprints import Blueprint, load_blueprints
from gitops.inputs.environments import Environment, load_environments, select_environments
from gitops.render import layout, layout_fleet
from gitops.render.check import split_by_action
from gitops.render.secrets import check_no_plaintext_secrets
from gitops.render.share import Rendered, SharedRenders

if TYPE_CHECKING:
    pass

#: Adds an environment's own guardrail constructs to a scope.
GuardrailsFunction = Callable[[Scope, Environment], None]
#: Receives one line of progress (the CLI prints it on stderr).
Progress = Callable[[str], None]


def environment_guardrails(scope: Scope, env: Environment) -> None:
    """Add the environment's guardrails: cluster admission policy, then one set per namespace."""
    from gitops.constructs.guardrails import ClusterGuardrails, NamespaceGuardrails

    ClusterGuardrails(
        scope,
        "cluster",
        engine=env.engine,
        action=env.action,
        allowed_registries=env.allowed_registries,
        failure_modes={
            "gpu_namespaces": env.gpu_allowed_namespaces,
            "min_startup_seconds": env.min_startup_seconds,
            "gang_schedulers": env.gang_scheduling.schedulers,
            "gang_queues": env.gang_scheduling.queues,
            "kubernetes_version": env.cluster.kubernetes_version,
        },
    )
    for namespace in env.namespaces:
        NamespaceGuardrails(
            scope,
            namespace,
            namespace=namespace,
            pod_security=env.pod_security,
            gpu_quota=env.gpu_quota,
            cpu_quota=env.cpu_quota,
            memory_quota=env.memory_quota,
            network=env.network,
        )


def render_environment(
    env: Environment,
    blueprints: Sequence[Blueprint],
    *,
    guardrails: GuardrailsFunction | None = None,
    shared: SharedRenders | None = None,
) -> list[Manifest]:
    """Render one environment: its guardrails, then every blueprint, in canonical order (pure).

    Each blueprint gets its own :class:`Scope` (so provenance names it) with the
    environment's default namespace and overrides. With ``shared``, a shareable blueprint
    another cluster rendered alike is not rendered again (see :mod:`gitops.render.share`).

    Raises:
        RenderError: a blueprint raised, or two objects (from any blueprints) share group,
            kind, namespace and name (both sources named).
        ValidationError: an override names a construct id no blueprint created (a typo
            would otherwise be ignored silently).
        RenderError: a Secret carries plain values (see :mod:`gitops.render.secrets`).
    """
    add_guardrails = guardrails or environment_guardrails
    scope = _scope(env, layout.GUARDRAILS_BLUEPRINT)
    try:
        add_guardrails(scope, env)
    except Exception as err:
        raise RenderError(f"{env.source}: guardrails: {type(err).__name__}: {err}") from err
    rendered = list(scope.synth())
    _check_json(env, rendered)
    ids: set[str] = set()
    for blueprint in blueprints:
        share = shared if blueprint.shareable else None
        done = share.find(blueprint, env) if share is not None else None
        if done is None and share is not None and share.storing(blueprint):
            done, warned = _render_watching(env, blueprint)
            share.add(blueprint, env, done, keep=not warned)
        elif done is None:
            done = _render_blueprint(env, blueprint)
            if share is not None:
                share.add(blueprint, env, done)
        ids.update(done.ids)
        rendered.extend(done.objects)
    unknown = sorted(set(env.overrides) - ids)
    if unknown:
        raise ValidationError(
            f"{env.source}: overrides.{unknown[0]}: no construct with this id in the "
            f"blueprints{did_you_mean(unknown[0], ids)} (known: {', '.join(sorted(ids)) or 'none'})"
        )
    check_unique(rendered)
    # Before anything else sees the objects: policy messages could quote a value.
    check_no_plaintext_secrets(rendered, f"{env.source}: environment {env.name}")
    return canonical_order(rendered)


def _render_blueprint(env: Environment, blueprint: Blueprint) -> Rendered:
    scope = _scope(env, blueprint.name)
    blueprint.apply(scope, env)
    ids = tuple(_construct_ids(scope.children))
    try:
        objects = scope.synth()
    except RenderError as err:
        raise RenderError(f"{blueprint.source}: environment {env.name}: {err}") from err
    _check_fenced(env, blueprint, objects)
    _check_json(env, objects)
    return Rendered(ids, tuple(objects))


#: Warnings shown by :func:`_render_watching`, as a module's ``__warningregistry__``:
#: the default filter shows each text once per process, as it did before they were watched.
_SHOWN: dict[Any, Any] = {}


def _render_watching(env: Environment, blueprint: Blueprint) -> tuple[Rendered, bool]:
    """:func:`_render_blueprint`, and whether it warned (such a render is not kept for later
    runs: one taken from the store would not warn again). Each warning is still shown."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rendered = _render_blueprint(env, blueprint)
    finally:
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno, registry=_SHOWN)  # fmt: skip
    return rendered, bool(caught)


def _check_json(env: Environment, objects: Sequence[Manifest]) -> None:
    for obj in objects:
        found = non_json_path(obj)
        if found is not None:  # the field and type are named, never the value
            raise RenderError(
                f"{env.source}: environment {env.name}: {key_of(obj)} ({provenance(obj)}): "
                f"{found[0]} is a {found[1]}, not a JSON value (manifests hold dicts, lists, "
                "strings, numbers, booleans and null)"
            )


def _check_fenced(env: Environment, blueprint: Blueprint, objects: Sequence[Manifest]) -> None:
    """Refuse a blueprint's object in a namespace the environment does not list.

    Only listed namespaces get a Namespace, a quota, Pod Security labels and the
    default-deny NetworkPolicy; an object elsewhere would escape all four. Refusing (rather
    than fencing any namespace a blueprint names) keeps the environment file the one place
    that decides which namespaces, and so how many quotas, a cluster gets.
    """
    for obj in objects:
        namespace = obj.get("metadata", {}).get("namespace")
        if namespace and namespace not in env.namespaces:
            raise RenderError(
                f"{blueprint.source}: environment {env.name}: {key_of(obj)} ({provenance(obj)}): "
                f"namespace must be one of the environment's namespaces "
                f"({', '.join(env.namespaces)}), got {namespace!r}; add it to namespaces in "
                f"{env.source} so it gets its quota, Pod Security labels and NetworkPolicies"
            )


def _construct_ids(constructs: Sequence[Construct]) -> Iterator[str]:
    for construct in constructs:
        yield construct.id
        yield from _construct_ids(construct.children)


def render_environments(
    blueprints: Path,
    environments: Path,
    *,
    guardrails: GuardrailsFunction | None = None,
    kinds: Mapping[str, str | type[Any]] | None = None,
    only: Sequence[str] | None = None,
) -> dict[str, list[Manifest]]:
    """Read the inputs and render every environment: ``{env name: manifests}``.

    Args:
        blueprints: the blueprints directory.
        environments: the environments directory.
        guardrails: replaces :func:`environment_guardrails` (tests, custom platforms).
        kinds: construct kinds YAML specs may use (see
            :func:`gitops.inputs.blueprints.load_blueprints`).
        only: render only these environments (``None``, empty or ``all``: every one).

    Raises:
        InputError, ValidationError, RenderError: an input is invalid (file and key named).
    """
    envs = select_environments(load_environments(environments), only)
    loaded = load_blueprints(blueprints, kinds)
    shared = SharedRenders()
    return {
        env.target: render_environment(env, loaded, guardrails=guardrails, shared=shared)
        for env in envs
    }


def render_tree(
    rendered: Mapping[str, Sequence[Manifest]],
    environments: Sequence[Environment],
    *,
    dump: Callable[[Any], bytes] | None = None,
) -> dict[str, bytes]:
    """Lay rendered environments out as a repository tree ``{path: bytes}`` (pure).

    ``rendered`` is keyed by :attr:`Environment.target` (``prod``, or ``prod/us-east-1``
    for a cluster of a fleet). See :mod:`gitops.render.layout` for the paths and
    :mod:`gitops.render.fleet` for fleets. The generated-paths index is added by
    :func:`gitops.repo.commit_tree`, not here. ``dump`` turns a document into its file's
    bytes (default: :func:`gitops.core.yaml_io.dump_one`; :func:`render_to_repo` passes its
    :class:`~gitops.render.cache.RenderCache`, which gives the same bytes).

    Raises:
        RenderError: an object cannot be given a safe path, two objects would share one, or
            a Secret carries plain values (whatever produced ``rendered``).
    """
    _yaml = dump or dump_document
    files: dict[str, bytes] = {}
    by_target = {env.target: env for env in environments}
    groups: dict[str, list[Environment]] = {}
    for target in sorted(rendered):
        env = by_target.get(target)
        if env is None:
            raise RenderError(
                f"environment {target}: rendered but not among the environments given"
            )
        check_no_plaintext_secrets(rendered[target], f"environment {target}")
        groups.setdefault(env.name, []).append(env)
    argocd: list[str] = []
    for name in sorted(groups):
        members = groups[name]
        if members[0].fleet:
            objects = {env.cluster.name: rendered[env.target] for env in members}
            layout_files = layout_fleet.fleet_files(name, members, objects)
        else:
            layout_files = layout_fleet.environment_files(members[0], rendered[name])
        for path, document in layout_files:
            files[path] = _yaml(document)
            if path.startswith("argocd/"):
                argocd.append(path.removeprefix("argocd/"))
    if argocd:
        files[f"argocd/{layout.KUSTOMIZATION}"] = _yaml(
            layout.kustomization(layout.argocd_index(argocd))
        )
    return dict(sorted(files.items()))


def check_policies(rendered: Mapping[str, Sequence[Manifest]]) -> list[str]:
    """Evaluate the guardrails and capacity checks (:mod:`gitops.policy.capacity`) on the objects.

    Returns:
        One line per Warn or Audit violation, prefixed with the environment.

    Raises:
        PolicyError: at least one Deny violation (all of them listed); nothing is committed.
    """
    # The one call site of the render-time guardrail check; skipped while gitops.policy
    # (written separately) is absent or does not offer evaluate() yet.
    if importlib.util.find_spec("gitops.policy") is None:
        return []
    evaluate: Any = getattr(importlib.import_module("gitops.policy"), "evaluate", None)
    if evaluate is None:
        return []
    from gitops.policy.capacity import check_capacity
    def violations(objects: list[Manifest]) -> list[Any]:
        return [*evaluate(objects), *check_capacity(objects)]

    return split_by_action((name, violations(list(rendered[name]))) for name in sorted(rendered))


def _scope(env: Environment, blueprint: str) -> Scope:
    return Scope(
        namespace=env.namespace,
        blueprint=blueprint,
        environment=env.name,
        overrides=env.overrides,
        context={"environment": env},
    )


def shipped_evaluator() -> bool:
    if importlib.util.find_spec("gitops.policy") is None:
        return False
    evaluate = getattr(importlib.import_module("gitops.policy"), "evaluate", None)
    return str(getattr(evaluate, "__module__", "")).startswith("gitops.policy")


def dump_document(document: Any) -> bytes:
    return dump_one(document).encode()
