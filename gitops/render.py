"""Blueprints x environments -> manifests -> the repository tree, and the render command.

- :func:`render_environment` and :func:`render_tree` are pure (no I/O): constructs in,
  manifests and ``{path: bytes}`` out, byte-identical for identical inputs.
- :func:`render_environments` reads the input directories, then renders.
- :func:`render_to_repo` is the whole ``gitops render``: read, render, check guardrails,
  commit with :mod:`gitops.repo` (the only Git importer), optionally push. The YAML and
  guardrail outcomes of unchanged objects come from :mod:`gitops.render_cache`.
- :func:`manifests_at_ref` reads an environment's manifests back from a ref.

cdk8s is never imported here: it starts only if a blueprint adds a cdk8s chart.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops import layout, layout_fleet
from gitops.blueprints import Blueprint, load_blueprints
from gitops.constructs.base import Construct, Scope, check_unique, provenance
from gitops.environments import Environment, load_environments, select_environments
from gitops.errors import PolicyError, RenderError, ValidationError
from gitops.model import (
    Manifest,
    canonical_order,
    dump_one,
    key_of,
    load_yaml_all,
    non_json_path,
)
from gitops.render_cache import RenderCache
from gitops.render_share import Rendered, SharedRenders
from gitops.secrets import check_no_plaintext_secrets
from gitops.suggest import did_you_mean

if TYPE_CHECKING:
    from gitops.repo import CommitResult

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
    another cluster rendered alike is not rendered again (see :mod:`gitops.render_share`).

    Raises:
        RenderError: a blueprint raised, or two objects (from any blueprints) share group,
            kind, namespace and name (both sources named).
        ValidationError: an override names a construct id no blueprint created (a typo
            would otherwise be ignored silently).
        RenderError: a Secret carries plain values (see :mod:`gitops.secrets`).
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
        done = share.find(blueprint.name, env) if share is not None else None
        if done is None:
            done = _render_blueprint(env, blueprint)
            if share is not None:
                share.add(blueprint.name, env, done)
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
        kinds: construct kinds YAML specs may use (see :func:`gitops.blueprints.load_blueprints`).
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
    for a cluster of a fleet). See :mod:`gitops.layout` for the paths and
    :mod:`gitops.fleet` for fleets. The generated-paths index is added by
    :func:`gitops.repo.commit_tree`, not here. ``dump`` turns a document into its file's
    bytes (default: :func:`gitops.model.dump_one`; :func:`render_to_repo` passes its
    :class:`~gitops.render_cache.RenderCache`, which gives the same bytes).

    Raises:
        RenderError: an object cannot be given a safe path, two objects would share one, or
            a Secret carries plain values (whatever produced ``rendered``).
    """
    _yaml = dump or _dump_yaml
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
    """Evaluate the guardrails and the capacity checks (:mod:`gitops.capacity`) on the objects.

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
    from gitops.capacity import check_capacity

    denied: list[str] = []
    notes: list[str] = []
    for name in sorted(rendered):
        objects = list(rendered[name])
        for violation in [*evaluate(objects), *check_capacity(objects)]:
            line = f"{name}: {violation}"
            (denied if violation.action == "Deny" else notes).append(line)
    if denied:
        raise PolicyError(
            f"{len(denied)} Deny guardrail violation(s), nothing committed: " + "; ".join(denied)
        )
    return notes


def render_to_repo(
    blueprints: Path,
    environments: Path,
    repo: Path,
    *,
    branch: str = "main",
    base: str | None = None,
    message: str | None = None,
    push: str | None = None,
    author: str | None = None,
    progress: Progress | None = None,
    guardrails: GuardrailsFunction | None = None,
    only: Sequence[str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> CommitResult:
    """Render the inputs and commit them to ``branch`` of ``repo`` (the ``gitops render`` command).

    Everything is read, rendered and checked before the repository is touched: an error
    leaves it exactly as it was.

    Args:
        blueprints: the blueprints directory.
        environments: the environments directory.
        repo: the Git repository (created, non-bare, if missing).
        branch: the branch to commit to.
        base: where to start ``branch`` if it does not exist yet (a ref or commit).
        message: the commit title (the summary of changes follows it).
        push: a remote name, path or URL to push ``branch`` to after committing.
        author: ``"Name <email>"`` (default: see :func:`gitops.repo.identity`).
        progress: receives one line per step (per environment).
        guardrails: replaces :func:`environment_guardrails`.
        only: render only these environments; the files of the others stay as committed
            on ``branch`` (``None``, empty or ``all``: every environment).
        overrides: change-budget overrides ``{budget: reason}`` to record in the commit
            message as ``Gitops-Override`` trailers (see :mod:`gitops.budgets`).

    Raises:
        GitOpsError: an input is invalid, a Deny guardrail is violated, an environment
            takes an image or model its ``promotion.after`` environment has not rendered
            at an earlier commit, or Git failed.
    """
    from gitops.budgets import override_trailers

    trailers = override_trailers(overrides or {})
    report = progress or (lambda _line: None)
    every = load_environments(environments)
    # A fleet is laid out from all its clusters (the base is what they share).
    envs = [e for e in every if e.name in {s.name for s in select_environments(every, only)}]
    rendered = _render_all(envs, load_blueprints(blueprints), guardrails, report)
    if "promotion" not in (overrides or {}):
        check_promotions(repo, branch, base, envs, rendered, report)
    partial = len(envs) < len(every)
    commit = _Commit(branch, base, message, author, trailers, push)
    return _check_and_commit(repo, rendered, envs, partial, commit, report)


@dataclass(frozen=True)
class _Commit:
    """Where and how :func:`render_to_repo` commits (its arguments of the same names)."""

    branch: str
    base: str | None
    message: str | None
    author: str | None
    trailers: list[str]
    push: str | None


def _check_and_commit(
    repo: Path,
    rendered: dict[str, list[Manifest]],
    envs: Sequence[Environment],
    partial: bool,
    how: _Commit,
    report: Progress,
) -> CommitResult:
    """Check the guardrails, lay the files out, commit them and push (``partial``: the
    environments not rendered keep their committed files)."""
    from gitops import repo as git

    # Unchanged objects reuse the YAML and guardrail outcome of an earlier render.
    cache = RenderCache(repo, dump_one)
    notes = _notes(rendered, envs, cache, report)
    files = render_tree(rendered, envs, dump=cache.dump)
    if partial:
        files = _with_other_environments(files, repo, how.branch, how.base,
                                         {e.name for e in envs})  # fmt: skip
    report(f"committing {len(files)} files to {how.branch} in {repo} ({cache.hits} from cache)")
    result = git.commit_tree(repo, files, branch=how.branch, base=how.base, message=how.message,
                             notes=notes, signature=git.identity(how.author),
                             trailers=how.trailers)  # fmt: skip
    cache.save()
    if how.push is not None:
        _push(repo, how.push, how.branch, report)
    return result


def _push(repo: Path, remote: str, branch: str, report: Progress) -> None:
    from gitops import repo as git
    from gitops.redact import redact_url

    report(f"pushing {branch} to {redact_url(remote)}")
    git.push(repo, remote, branch)


def _render_all(
    envs: Sequence[Environment],
    loaded: Sequence[Blueprint],
    guardrails: GuardrailsFunction | None,
    report: Progress,
) -> dict[str, list[Manifest]]:
    """Every environment's manifests by target, one progress line before and after each."""
    rendered: dict[str, list[Manifest]] = {}
    shared = SharedRenders()
    for env in envs:
        report(f"rendering {env.target} ({len(loaded)} blueprints)")
        rendered[env.target] = render_environment(env, loaded, guardrails=guardrails, shared=shared)
        report(f"rendered {env.target}: {len(rendered[env.target])} objects")
    return rendered


def _notes(
    rendered: Mapping[str, Sequence[Manifest]],
    envs: Sequence[Environment],
    cache: RenderCache,
    report: Progress,
) -> list[str]:
    """The guardrail and exposure warnings for the commit message, each reported too.

    Raises:
        PolicyError: a Deny guardrail is violated.
    """
    from gitops.exposure import exposure_warnings

    notes = _checked_notes(rendered, cache)
    notes += [
        f"{env.name}: {warning}"
        for env in envs
        for warning in exposure_warnings(env, rendered[env.target])
    ]
    for note in notes:
        report(f"guardrail: {note}")
    return notes


def _with_other_environments(
    files: Mapping[str, bytes], repo: Path, branch: str, base: str | None, rendered: set[str]
) -> dict[str, bytes]:
    """``files`` plus the generated files of the environments not rendered, as committed.

    ``render --env`` limits the work, not the repository: the other environments' files
    are carried over from the branch (or ``base`` for a new branch) byte for byte, and
    the shared Argo CD index is rebuilt over both.
    """
    import json

    from gitops import repo as git
    from gitops.errors import RepositoryError

    committed: dict[str, bytes] = {}
    for ref in (branch, base):
        if ref is None:
            continue
        try:
            committed = git.read_files(repo, ref, max_bytes=None)
        except RepositoryError:
            continue
        break
    index = json.loads(committed.get(layout.GENERATED_INDEX, b"{}"))
    generated = set(index.get("paths", ())) if isinstance(index, dict) else set()
    out = dict(files)
    for path, data in committed.items():
        env = layout.environment_of(path)
        if path in generated and env is not None and env not in rendered:
            out[path] = data
    argocd = [
        path.removeprefix("argocd/")
        for path in out
        if path.startswith("argocd/") and path != f"argocd/{layout.KUSTOMIZATION}"
    ]
    if argocd:
        out[f"argocd/{layout.KUSTOMIZATION}"] = _dump_yaml(
            layout.kustomization(layout.argocd_index(argocd))
        )
    return dict(sorted(out.items()))


def check_promotions(
    repo: Path,
    branch: str,
    base: str | None,
    envs: Sequence[Environment],
    rendered: Mapping[str, Sequence[Manifest]],
    report: Progress,
) -> None:
    """Refuse a render whose environments take what their ``promotion.after`` has not run.

    Compares each such environment's new objects with its objects on ``branch`` now, and
    looks the new images and model revisions up in what the upstream environment rendered
    on ``branch`` (``base`` for a new branch) at this or any earlier commit (never in this
    render: it has not run).

    Raises:
        ValidationError: every environment and artefact not promoted yet, in one line.
    """
    from gitops.errors import RepositoryError
    from gitops.sources import promotion_status

    refused: list[str] = []
    for env in envs:
        if not env.promotion_after:
            continue
        before: list[Manifest] = []
        upstream = branch
        for ref in (branch, base):
            if ref is None:
                continue
            try:
                before = manifests_at_ref(repo, ref, env.name)
            except RepositoryError:
                continue  # no repository or branch yet: everything is new
            upstream = ref
            break
        status = promotion_status(
            repo, env.name, env.promotion_after, before, rendered[env.name], upstream
        )
        report(str(status))
        if not status.ok:
            refused.append(f"{env.source}: {status}")
    if refused:
        raise ValidationError("; ".join(refused) + "; nothing committed")


def _checked_notes(rendered: Mapping[str, Sequence[Manifest]], cache: RenderCache) -> list[str]:
    """:func:`check_policies`, each object checked once per content (see render_check).

    A stand-in evaluator (tests, custom platforms) is always run on everything.
    """
    if not _shipped_evaluator():
        return check_policies(rendered)
    from gitops.render_check import checked_notes

    return checked_notes(rendered, cache)


def manifests_at_ref(repo_path: Path, ref: str, env: str) -> list[Manifest]:
    """The manifests of environment ``env`` as committed at ``ref``, in canonical order.

    Objects carry what was committed, including the ``argocd.argoproj.io/sync-wave``
    annotation. ``kustomization.yaml`` files are skipped. An environment absent at ``ref``
    gives an empty list.

    Raises:
        RepositoryError: the repository or the ref does not exist.
        InputError: a committed file is not valid YAML or not an object.
    """
    from gitops.repo import read_files

    files = read_files(repo_path, ref, layout.environment_dir(env))
    manifests: list[Manifest] = []
    for path in sorted(files):
        if path.endswith("/" + layout.KUSTOMIZATION) or not path.endswith(".yaml"):
            continue
        for document in load_yaml_all(files[path], f"{ref}:{path}"):
            key_of(document, f"{ref}:{path}")
            manifests.append(document)
    return canonical_order(manifests)


def _scope(env: Environment, blueprint: str) -> Scope:
    return Scope(
        namespace=env.namespace,
        blueprint=blueprint,
        environment=env.name,
        overrides=env.overrides,
        context={"environment": env},
    )


def _shipped_evaluator() -> bool:
    if importlib.util.find_spec("gitops.policy") is None:
        return False
    evaluate = getattr(importlib.import_module("gitops.policy"), "evaluate", None)
    return str(getattr(evaluate, "__module__", "")).startswith("gitops.policy")


def _dump_yaml(document: Any) -> bytes:
    return dump_one(document).encode()
