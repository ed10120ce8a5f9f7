"""Which cluster: an environment's binding to its API server, and refusing any other.

An environment names its API server (``cluster.server``) and may name the kubeconfig
context to reach it (``cluster.context``). Every command that talks to a cluster for an
environment (``diff``, ``plan``, ``apply``) resolves the kubeconfig context it would use,
compares that context's server with the environment's, and refuses, before it sends a
single request, when they differ: a kubeconfig whose current context is the dev cluster
must never receive ``apply --env prod``. ``--override-cluster URL`` talks to another
server anyway; it must name the server it overrides to (so it cannot be left in a script
by accident for another cluster) and every use prints a warning.

The binding is read from ``<environments>/<env>.yaml`` when that file exists, else from
the Argo CD Application committed for the environment (``argocd/application-<env>.yaml``,
``spec.destination.server``), which ``gitops render`` writes from the same key. An
environment found in neither place, nor with a directory in the repository, does not
exist: every command says so (exit 2) instead of finding nothing to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gitops.core.errors import ClusterError, InputError, RepositoryError
from gitops.core.redact import redact_url
from gitops.core.yaml_io import load_yaml

if TYPE_CHECKING:
    from gitops.cluster.client import ClusterClient

_DEFAULT_PORTS = {"https": 443, "http": 80}


class WrongClusterError(ClusterError):
    """The kubeconfig context points at another server than the environment's."""


@dataclass(frozen=True)
class Binding:
    """The cluster an environment is bound to.

    Attributes:
        environment: the environment's name.
        server: its API server URL (``None``: the environment names none).
        context: the kubeconfig context it names (``None``: the current context).
        source: the file the binding was read from, for messages.
    """

    environment: str
    server: str | None
    context: str | None
    source: str


def same_server(a: str, b: str) -> bool:
    """Whether two API server URLs name the same server (scheme, host, port and path).

    Compared as URLs, not strings: case of scheme and host, a default port and a trailing
    slash do not make two servers different.
    """

    def canonical(url: str) -> tuple[str, str, int | None, str]:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            port = None
        return scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")

    return canonical(a) == canonical(b)


def environment_binding(
    environment: str,
    *,
    environments_dir: str | Path | None = None,
    repo: Path | None = None,
    refs: Sequence[str] = (),
) -> Binding:
    """Find ``environment``: its file, else what the repository committed for it at ``refs``.

    Args:
        environment: the name given to ``--env``.
        environments_dir: where ``<env>.yaml`` lives (None: only the repository is read).
        repo: the rendered repository (None: do not look there).
        refs: the refs of ``repo`` the command reads.

    Raises:
        InputError: the environment exists neither as a file nor in the repository at any
            of ``refs`` (the known environments are listed).
        ValidationError: its file is invalid.
    """
    from gitops.inputs.environments import load_environments

    directory = Path(environments_dir) if environments_dir is not None else None
    name = environment.partition("/")[0]  # <env>/<cluster> names one cluster of a fleet
    path = directory / f"{name}.yaml" if directory is not None else None
    if path is not None and directory is not None and path.is_file():
        members = [env for env in load_environments(directory) if env.name == name]
        chosen = [env for env in members if env.target == environment]
        if not chosen:
            clusters = ", ".join(env.target for env in members)
            raise InputError(
                f"--env {environment}: {path} is a fleet: name one of its clusters ({clusters})"
            )
        env = chosen[0]
        server = env.cluster.server or None
        return Binding(environment, server, env.cluster.context, str(path))
    known: set[str] = set()
    if directory is not None and directory.is_dir():
        known.update(p.stem for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    for ref in refs:
        found = _committed_binding(environment, repo, ref, known) if repo is not None else None
        if found is not None:
            return found
    from gitops.core.suggest import did_you_mean

    where = [f"no {path}"] if path is not None else []
    if repo is not None and refs:
        where.append(f"no envs/{environment}/ in {repo} at {', '.join(dict.fromkeys(refs))}")
    raise InputError(
        f"--env {environment}: no such environment{did_you_mean(environment, known)} "
        f"({'; '.join(where) or 'nothing to read it from'}; known: "
        f"{', '.join(sorted(known)) or 'none'})"
    )


def _committed_binding(environment: str, repo: Path, ref: str, known: set[str]) -> Binding | None:
    """The binding committed at ``ref``, or None if ``envs/<env>/`` is not there."""
    from gitops import repo as git

    try:
        names = git.subdirectories(repo, ref, "envs")
    except RepositoryError:
        return None  # the command reading this ref reports it
    known.update(names)
    name, _, cluster = environment.partition("/")
    if name not in names:
        return None
    if cluster:  # a fleet's cluster: its element of the ApplicationSet's list generator
        return _committed_fleet_binding(environment, repo, ref)
    path = f"argocd/application-{environment}.yaml"
    files = git.read_files(repo, ref, path)
    server = None
    if path in files:
        document = load_yaml(files[path], f"{ref}:{path}")
        spec = document.get("spec") if isinstance(document, dict) else None
        destination = spec.get("destination") if isinstance(spec, dict) else None
        value = destination.get("server") if isinstance(destination, dict) else None
        server = value if isinstance(value, str) and value else None
    return Binding(environment, server, None, f"{repo}@{ref}:{path}")


def connect(
    binding: Binding | None,
    kubeconfig: str | None,
    context: str | None,
    *,
    override: str | None = None,
    warn: Callable[[str], None],
) -> ClusterClient:
    """A client for the environment's cluster, checked before any request is sent.

    The context is ``context`` if given, else the one the environment names, else the
    kubeconfig's current context.

    Args:
        binding: the environment's binding (None: no environment, nothing to check).
        kubeconfig: the kubeconfig file (None: ``$KUBECONFIG`` or the default).
        context: the context given on the command line.
        override: ``--override-cluster``: the server to talk to although it is not the
            environment's (must be the server the context points at).
        warn: receives the warning printed when ``override`` is used.

    Raises:
        WrongClusterError: the context's server is not the environment's and ``override``
            does not name it.
        ClusterError: the kubeconfig or context cannot be loaded.
    """
    from gitops.cluster.client import ClusterClient

    chosen = context or (binding.context if binding is not None else None)
    client = ClusterClient.from_kubeconfig(kubeconfig, chosen)
    check_server(binding, client.server, client.where, override=override, warn=warn)
    return client


def check_server(
    binding: Binding | None,
    actual: str,
    where: str,
    *,
    override: str | None = None,
    warn: Callable[[str], None],
) -> None:
    """Refuse ``actual`` unless it is the environment's server or ``override`` names it.

    Raises:
        WrongClusterError: see :func:`connect`.
    """
    if override is not None and not same_server(override, actual):
        raise WrongClusterError(
            f"--override-cluster {redact_url(override)} is not the server {where} talks to "
            f"({redact_url(actual)}): refusing"
        )
    if binding is None:
        return
    if binding.server is None:
        if override is None:
            warn(
                f"environment {binding.environment} names no cluster server ({binding.source}): "
                f"cannot check that {redact_url(actual)} ({where}) is its cluster"
            )
        return
    if same_server(binding.server, actual):
        return
    if override is not None:
        warn(
            f"WARNING: environment {binding.environment} is bound to "
            f"{redact_url(binding.server)} ({binding.source}), talking to "
            f"{redact_url(actual)} ({where}) because --override-cluster names it"
        )
        return
    raise WrongClusterError(
        f"environment {binding.environment} is bound to {redact_url(binding.server)} "
        f"({binding.source}), but {where} talks to {redact_url(actual)}: refusing before any "
        f"request (use the environment's context, or pass --override-cluster "
        f"{redact_url(actual)} to talk to that server anyway)"
    )


def _committed_fleet_binding(environment: str, repo: Path, ref: str) -> Binding | None:
    """The server a fleet's ApplicationSet at ``ref`` sends ``<env>/<cluster>`` to."""
    from gitops import repo as git

    name, _, cluster = environment.partition("/")
    path = f"argocd/applicationset-{name}.yaml"
    files = git.read_files(repo, ref, path)
    if path not in files:
        return None
    document = load_yaml(files[path], f"{ref}:{path}")
    generators = (
        (document.get("spec") or {}).get("generators") if isinstance(document, dict) else None
    )
    for generator in generators or []:
        elements = ((generator or {}).get("list") or {}).get("elements") or []
        for element in elements:
            if isinstance(element, dict) and element.get("cluster") == cluster:
                server = element.get("server")
                return Binding(
                    environment,
                    server if isinstance(server, str) and server else None,
                    None,
                    f"{repo}@{ref}:{path}",
                )
    return None
