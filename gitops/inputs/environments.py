"""Environments: where and how blueprints are rendered (``environments/<name>.yaml``).

An environment file names the target cluster, the namespaces it owns, its guardrails and
quotas, and per-stack overrides::

    name: prod                      # must equal the file name without .yaml
    cluster:
      name: prod-gpu-1
      server: https://prod.k8s.example.com:6443   # every cluster command refuses any other
      context: prod-admin           # kubeconfig context to use (optional)
      kubernetes_version: "1.32"    # deprecated/removed apiVersions are judged for it
    namespaces: [inference]         # the first one is the default namespace
    guardrails:
      engine: vap                   # vap | kyverno
      action: Deny                  # Deny | Warn | Audit
      allowed_registries: [registry.example.com/]
      pod_security: baseline        # enforced Pod Security level (optional)
      gpu_namespaces: [inference]   # where GPU workloads may run (default: namespaces)
      min_startup_seconds: 300      # startup-probe budget of GPU containers (model load)
      gang_scheduling:              # what a multi-node LeaderWorkerSet must use (any one)
        schedulers: [volcano]       #   a gang scheduler in its pod templates' schedulerName
        queues: [gpu-queue]         #   a Kueue queue (label kueue.x-k8s.io/queue-name)
    change_budget:                  # what one change may do (see gitops.policy.budgets)
      max_deletions: 10
      max_deletion_percent: 25
      max_gpu_delta: 16
      protected_kinds: [Namespace, PersistentVolumeClaim]
    promotion:
      after: staging                # take only images and models staging rendered before
    quotas:                         # per namespace (all optional)
      gpu: 16
      cpu: "256"
      memory: 2Ti
    network:                        # allows beyond default-deny (all optional)
      gateway_namespaces: [gateway] # may reach serving_ports (default: none)
      monitoring_namespaces: [monitoring]   # may reach metrics_ports (the default)
      egress:                       # model downloads (default: none)
        - {cidr: 10.20.0.0/16, ports: [443]}
      internet_egress: false        # any public address on 443 (warned in strict envs)
      api_server: [{cidr: 10.0.0.1/32, ports: [443, 6443]}]   # endpoint pickers only
    repo_url: https://git.example.com/platform/gitops.git   # for Argo CD / Flux (optional)
    overrides:
      llama-8b:                     # a stack id
        replicas: 3
        gpu_product: NVIDIA-H100-80GB-HBM3
        image_tag: v0.6.4
        autoscaling: {min_replicas: 2, max_replicas: 8}
    diff:                           # what `gitops diff` / `gitops plan` never report as drift
      ignore:
        - {pointer: /spec/replicas, kinds: [Deployment]}
        - {manager: kube-controller-manager}

Inheritance and fleets (see :mod:`gitops.inputs.inherit` for the merge rules)::

    # environments/prod-base.yaml: only extended, never rendered
    name: prod-base
    abstract: true
    namespaces: [inference]
    guardrails: {engine: kyverno, action: Deny}

    # environments/prod.yaml: one environment, many clusters
    name: prod
    extends: prod-base
    clusters:                       # instead of cluster: one render target per entry
      - name: us-east-1
        server: https://us-east-1.k8s.example.com:6443   # or context: NAME
        labels: {region: us-east, gpu: h100}
      - name: eu-west-1
        server: https://eu-west-1.k8s.example.com:6443
        labels: {region: eu-west, gpu: a100}
        overrides:                  # per cluster, merged over the environment's
          llama-8b: {gpu_product: NVIDIA-A100-SXM4-80GB}
        quotas: {gpu: 16}

A fleet's clusters are addressed as ``prod/us-east-1`` (``--env prod`` means all of them).
A cluster entry may set ``labels``, ``overrides``, ``quotas`` and ``guardrails``; they are
merged over the environment's as ``extends`` merges. Blueprints see the cluster (and its
labels) as ``env.cluster``.

Override keys are the parameters of the stack they name (every ``InferenceStack``
parameter, plus ``image_tag``); the values are checked by the stack's constructor when it
is rendered, with the same checks as blueprint values, and an error names the environment
file. Unknown keys are errors naming the file and the key, with the closest known key.
Loading reads files; validating the loaded mapping (:func:`parse_environments`) is pure.
"""

# Over 400 lines: about 90 are the file format's reference above and 70 the documented
# fields of Environment; the checks of single values are in gitops.inputs.env_fields.
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gitops.constructs.base import check_dns1123_label
from gitops.constructs.network import NetworkSettings, parse_network
from gitops.core.errors import InputError, ValidationError
from gitops.core.suggest import did_you_mean
from gitops.inputs import env_fields as fields
from gitops.inputs.inherit import merge
from gitops.policy.budgets import ChangeBudget, parse_budget

if TYPE_CHECKING:
    from gitops.inputs.ignore import IgnoreRule

#: Guardrail engines an environment may select.
ENGINES = ("vap", "kyverno")
#: Guardrail actions an environment may select.
ACTIONS = ("Deny", "Warn", "Audit")
#: Pod Security Admission levels.
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
#: Git URL Argo CD and Flux read the rendered repository from, unless the file names one.
DEFAULT_REPO_URL = "https://git.example.com/platform/gitops.git"

#: Kubernetes version whose deprecated and removed apiVersions are refused, unless the
#: environment declares ``cluster.kubernetes_version``.
DEFAULT_KUBERNETES_VERSION = "1.32"
#: Startup-probe budget (seconds) GPU containers need unless the environment says otherwise:
#: loading weights takes minutes, and a container killed before it serves starts over.
DEFAULT_MIN_STARTUP_SECONDS = 300

_TOP_KEYS = frozenset(
    {
        # What and where.
        "name", "cluster", "namespaces", "repo_url",
        # Policy.
        "guardrails", "quotas", "network",
        # Per-stack values.
        "overrides",
        # Drift.
        "diff",
        # Inheritance and fleets (gitops.inputs.inherit).
        "extends", "abstract", "clusters",
        "change_budget",
        "promotion",
    }
)  # fmt: skip
_CLUSTER_KEYS = frozenset({"name", "server", "context", "labels", "kubernetes_version"})
#: What one entry of ``clusters`` may set: the cluster, plus values merged over the env's.
_FLEET_CLUSTER_KEYS = _CLUSTER_KEYS | {"overrides", "quotas", "guardrails"}
_GUARDRAIL_KEYS = frozenset(
    {
        "engine",
        "action",
        "allowed_registries",
        "pod_security",
        "gpu_namespaces",
        "min_startup_seconds",
        "gang_scheduling",
    }
)
_GANG_KEYS = frozenset({"schedulers", "queues"})
_PROMOTION_KEYS = frozenset({"after"})
_QUOTA_KEYS = frozenset({"gpu", "cpu", "memory"})


@dataclass(frozen=True)
class Cluster:
    """The cluster an environment deploys to.

    Attributes:
        name: a short cluster name (used in Argo CD destinations).
        server: the API server URL (``https://...``); ``diff``, ``plan`` and ``apply``
            refuse to talk to any other server (see :mod:`gitops.workflows.target`). Empty when
            only ``context`` is given (a fleet cluster known to Argo CD by name).
        context: the kubeconfig context (and Argo CD cluster name) of the cluster, if any.
        labels: labels of the cluster (region, GPU pool...), for blueprints and fleets.
        context: the kubeconfig context to use when none is given (``None``: the
            kubeconfig's current context).
        kubernetes_version: the cluster's minor version (``"1.32"``); the
            ``deprecated-api-versions`` guardrail refuses what it deprecated or removed.
    """

    name: str
    server: str = ""
    context: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION


@dataclass(frozen=True)
class GangScheduling:
    """What makes a multi-node LeaderWorkerSet gang-scheduled in this environment.

    Attributes:
        schedulers: gang schedulers a pod template may name in ``schedulerName``.
        queues: Kueue queues the LeaderWorkerSet may name (``kueue.x-k8s.io/queue-name``).
    """

    schedulers: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    """One validated environment.

    Attributes:
        name: environment name (a DNS-1123 label; also its directory in the repository).
        cluster: the target cluster.
        namespaces: namespaces the environment owns; the first is the default namespace.
        engine: guardrail engine, ``vap`` or ``kyverno``.
        action: guardrail action, ``Deny``, ``Warn`` or ``Audit``.
        allowed_registries: image registry prefixes workloads may pull from.
        pod_security: Pod Security Admission level for the namespaces.
        gpu_quota: GPUs each namespace may request (``None``: no quota).
        cpu_quota: CPU each namespace may request (a quantity, or ``None``).
        memory_quota: memory each namespace may request (a quantity, or ``None``).
        network: the allows the namespaces' NetworkPolicies add to default-deny.
        repo_url: Git URL of the rendered repository, for Argo CD and Flux.
        overrides: per-stack overrides keyed by stack id (read-only mappings).
        diff_ignore: drift ignore rules (``gitops.inputs.ignore.IgnoreRule``) for this environment.
        gpu_namespaces: namespaces GPU workloads may run in (default: :attr:`namespaces`).
        min_startup_seconds: the startup-probe budget GPU containers must have.
        gang_scheduling: what a multi-node LeaderWorkerSet must use.
        change_budget: what one change may delete and how many GPUs it may move.
        promotion_after: the environment whose earlier renders this one must follow
            (its images and model revisions), or "".
        source: the file the environment was read from.
        fleet: ``True`` when the file declares ``clusters`` (this is one of them).
    """

    name: str
    cluster: Cluster
    namespaces: tuple[str, ...]
    engine: str = "vap"
    action: str = "Deny"
    allowed_registries: tuple[str, ...] = ()
    pod_security: str = "baseline"
    gpu_quota: int | None = None
    cpu_quota: str | None = None
    memory_quota: str | None = None
    network: NetworkSettings = field(default_factory=NetworkSettings)
    repo_url: str = DEFAULT_REPO_URL
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    diff_ignore: tuple[IgnoreRule, ...] = ()
    gpu_namespaces: tuple[str, ...] = ()
    min_startup_seconds: int = DEFAULT_MIN_STARTUP_SECONDS
    gang_scheduling: GangScheduling = field(default_factory=GangScheduling)
    change_budget: ChangeBudget = field(default_factory=ChangeBudget)
    promotion_after: str = ""
    source: str = "<memory>"
    fleet: bool = False

    @property
    def namespace(self) -> str:
        """The default namespace (the first of :attr:`namespaces`)."""
        return self.namespaces[0]

    @property
    def strict(self) -> bool:
        """Whether the guardrails deny (``action: Deny``): risky openings are reported."""
        return self.action == "Deny"

    @property
    def target(self) -> str:
        """What ``--env`` calls this: ``<name>``, or ``<name>/<cluster>`` in a fleet."""
        return f"{self.name}/{self.cluster.name}" if self.fleet else self.name

    @property
    def gpu_allowed_namespaces(self) -> tuple[str, ...]:
        """Namespaces GPU workloads may run in: ``gpu_namespaces``, else every namespace."""
        return self.gpu_namespaces or self.namespaces


def load_environments(directory: Path) -> list[Environment]:
    """Load every ``*.yaml``/``*.yml`` file of ``directory``, sorted by environment name.

    Raises:
        InputError: the directory is missing or holds no environment, or a file is invalid.
        ValidationError: a value is invalid (the message names the file and key).
    """
    from gitops.inputs.inherit import resolve_directory

    if not directory.is_dir():
        raise InputError(f"{directory}: environments directory not found")
    files = resolve_directory(directory)
    if not files:
        raise InputError(f"{directory}: no environment files (*.yaml) found")
    environments: list[Environment] = []
    for stem, (source, data) in files.items():
        environments.extend(_parse_file(data, source, stem))
    if not environments:
        raise InputError(f"{directory}: every environment file is abstract: nothing to render")
    environments.sort(key=lambda env: env.target)
    names = {env.name for env in environments}
    for env in environments:
        if env.promotion_after and env.promotion_after not in names:
            raise ValidationError(
                f"{env.source}: promotion.after: no environment named "
                f"{env.promotion_after!r} (known: {', '.join(sorted(names))})"
            )
    return environments


def select_environments(
    environments: Sequence[Environment], names: Sequence[str] | None
) -> list[Environment]:
    """The environments named in ``names`` (all of them for ``None``, ``[]`` or ``all``).

    Raises:
        InputError: a name is not among the environments (the closest name is suggested).
    """
    if not names or "all" in names:
        return list(environments)
    known = {env.name for env in environments} | {env.target for env in environments}
    for name in names:
        if name not in known:
            raise InputError(
                f"--env {name}: no such environment{did_you_mean(name, known)} "
                f"(known: {', '.join(sorted(known))})"
            )
    wanted = set(names)
    return [env for env in environments if env.name in wanted or env.target in wanted]


def load_environment(path: Path) -> Environment:
    """Read and validate one environment file (its ``extends`` read from the same directory).

    A fleet's file gives its first cluster; :func:`load_environments` gives them all.

    Raises:
        InputError: the file cannot be read or is not valid YAML, or it is abstract.
        ValidationError: a key is unknown or a value is invalid.
    """
    from gitops.inputs.inherit import resolve_directory

    if not path.is_file():
        raise InputError(f"{path}: no such environment file")
    source, data = resolve_directory(path.parent)[path.stem]
    environments = _parse_file(data, source, path.stem)
    if not environments:
        raise InputError(f"{path}: abstract environment (only extended, never rendered)")
    return environments[0]


def _parse_file(data: Any, source: str, stem: str) -> list[Environment]:
    environments = parse_environments(data, source)
    name = data.get("name") if isinstance(data, Mapping) else None
    if name != stem:
        raise ValidationError(f"{source}: name must match the file name {stem!r}, got {name!r}")
    return environments


def parse_environments(data: Any, source: str) -> list[Environment]:
    """Validate an environment mapping, ``extends`` already resolved (pure).

    Returns:
        ``[]`` for an abstract environment, one environment per cluster of a fleet,
        otherwise the one environment.

    Raises:
        ValidationError: a key is unknown, missing, or has an invalid value.
    """
    top = fields.mapping(data, source, "environment", _TOP_KEYS)
    abstract = top.get("abstract", False)
    if not isinstance(abstract, bool):
        raise ValidationError(f"{source}: abstract must be true or false, got {abstract!r}")
    if abstract:
        _check_partial(top, source)
        return []
    if "clusters" not in top:
        return [parse_environment(top, source)]
    if "cluster" in top:
        raise ValidationError(f"{source}: give either cluster or clusters, not both")
    entries = top["clusters"]
    if not isinstance(entries, list) or not entries:
        raise ValidationError(
            f"{source}: clusters must be a non-empty list of clusters, got {entries!r}"
        )
    shared = {k: v for k, v in top.items() if k != "clusters"}
    members: dict[str, Environment] = {}
    for index, entry in enumerate(entries):
        where = f"clusters[{index}]"
        values = fields.mapping(entry, source, where, _FLEET_CLUSTER_KEYS)
        own = {k: values[k] for k in ("overrides", "quotas", "guardrails") if k in values}
        merged = merge(shared, own)
        merged["cluster"] = {k: values[k] for k in _CLUSTER_KEYS if k in values}
        try:
            env = parse_environment(merged, source, fleet=True)
        except ValidationError as err:
            text = str(err).removeprefix(f"{source}: ")
            raise ValidationError(f"{source}: {where}: {text}") from None
        if env.cluster.name in members:
            raise ValidationError(
                f"{source}: {where}.name {env.cluster.name!r} is listed twice in clusters"
            )
        members[env.cluster.name] = env
    return list(members.values())


def _check_partial(top: Mapping[str, Any], source: str) -> None:
    """Validate what an abstract environment gives, with placeholders for what it may omit."""
    probe = dict(top)
    probe.pop("abstract", None)
    probe.setdefault("cluster", {"name": "abstract", "server": "https://abstract.invalid"})
    probe.setdefault("namespaces", ["abstract"])
    if "clusters" in probe:
        parse_environments(probe, source)
    else:
        parse_environment(probe, source)


def parse_environment(data: Any, source: str, *, fleet: bool = False) -> Environment:
    """Validate a single-cluster environment mapping (pure).

    Args:
        data: the loaded YAML document (``extends`` resolved, no ``clusters``).
        source: the file name used in error messages.
        fleet: the mapping is one cluster of a fleet.

    Raises:
        ValidationError: a key is unknown, missing, or has an invalid value.
    """
    top = fields.mapping(data, source, "environment", _TOP_KEYS)
    for required in ("name", "cluster", "namespaces"):
        if required not in top:
            raise ValidationError(f"{source}: required key {required!r} is missing")
    name = check_dns1123_label(source, "name", top["name"])
    cluster = _cluster(source, top["cluster"])
    namespaces = fields.string_list(source, "namespaces", top["namespaces"])
    if not namespaces:
        raise ValidationError(f"{source}: namespaces must list at least one namespace, got []")
    for index, namespace in enumerate(namespaces):
        check_dns1123_label(source, f"namespaces[{index}]", namespace)
    if len(set(namespaces)) != len(namespaces):
        raise ValidationError(f"{source}: namespaces must be unique, got {namespaces}")
    quotas = fields.mapping(top.get("quotas", {}), source, "quotas", _QUOTA_KEYS)
    return Environment(
        name=name,
        cluster=cluster,
        namespaces=tuple(namespaces),
        **_guardrails(source, top.get("guardrails", {})),
        gpu_quota=fields.optional_count(source, "quotas.gpu", quotas.get("gpu")),
        cpu_quota=fields.optional_quantity(source, "quotas.cpu", quotas.get("cpu")),
        memory_quota=fields.optional_quantity(source, "quotas.memory", quotas.get("memory")),
        network=parse_network(source, top.get("network", {})),
        repo_url=fields.url(source, "repo_url", top.get("repo_url", DEFAULT_REPO_URL)),
        overrides=fields.overrides(source, top.get("overrides", {})),
        diff_ignore=fields.diff_ignore(source, top.get("diff", {})),
        change_budget=parse_budget(source, top.get("change_budget", {})),
        promotion_after=_promotion_after(source, top.get("promotion", {}), name),
        source=source,
        fleet=fleet,
    )


def _guardrails(source: str, data: Any) -> dict[str, Any]:
    """The ``guardrails`` section, as :class:`Environment` fields."""
    guardrails = fields.mapping(data, source, "guardrails", _GUARDRAIL_KEYS)
    gpu_namespaces = fields.string_list(
        source, "guardrails.gpu_namespaces", guardrails.get("gpu_namespaces", [])
    )
    for index, namespace in enumerate(gpu_namespaces):
        check_dns1123_label(source, f"guardrails.gpu_namespaces[{index}]", namespace)
    where = "guardrails.gang_scheduling"
    gang = fields.mapping(guardrails.get("gang_scheduling", {}), source, where, _GANG_KEYS)
    registries = guardrails.get("allowed_registries", [])
    startup = guardrails.get("min_startup_seconds", DEFAULT_MIN_STARTUP_SECONDS)
    level = guardrails.get("pod_security", "baseline")
    engine = guardrails.get("engine", "vap")
    action = guardrails.get("action", "Deny")
    return {
        "engine": fields.choice(source, "guardrails.engine", engine, ENGINES),
        "action": fields.choice(source, "guardrails.action", action, ACTIONS),
        "allowed_registries": tuple(
            fields.string_list(source, "guardrails.allowed_registries", registries)
        ),
        "pod_security": fields.choice(
            source, "guardrails.pod_security", level, POD_SECURITY_LEVELS
        ),
        "gpu_namespaces": tuple(gpu_namespaces),
        "min_startup_seconds": fields.count(source, "guardrails.min_startup_seconds", startup),
        "gang_scheduling": GangScheduling(
            schedulers=tuple(
                fields.string_list(source, f"{where}.schedulers", gang.get("schedulers", []))
            ),
            queues=tuple(fields.string_list(source, f"{where}.queues", gang.get("queues", []))),
        ),
    }


def _promotion_after(source: str, data: Any, name: str) -> str:
    """``promotion.after``: another environment's name, or empty."""
    promotion = fields.mapping(data, source, "promotion", _PROMOTION_KEYS)
    after = promotion.get("after", "")
    if after:
        check_dns1123_label(source, "promotion.after", after)
        if after == name:
            raise ValidationError(
                f"{source}: promotion.after must name another environment, "
                f"got its own name {after!r}"
            )
    return str(after or "")


def _cluster(source: str, data: Any) -> Cluster:
    values = fields.mapping(data, source, "cluster", _CLUSTER_KEYS)
    name = check_dns1123_label(source, "cluster.name", values.get("name"))
    context = values.get("context")
    if context is not None and (not isinstance(context, str) or not context):
        raise ValidationError(
            f"{source}: cluster.context must be a kubeconfig context name, got {context!r}"
        )
    if "server" not in values and context is None:
        raise ValidationError(
            f"{source}: cluster {name!r} needs server (the API server URL) or context "
            "(a kubeconfig context / Argo CD cluster name), got neither"
        )
    server = fields.url(source, "cluster.server", values["server"]) if "server" in values else ""
    labels = fields.mapping(values.get("labels", {}), source, "cluster.labels", None)
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValidationError(f"{source}: cluster.labels.{key} must be a string, got {value!r}")
    return Cluster(
        name=name,
        server=server,
        context=context,
        labels=MappingProxyType(dict(labels)),
        kubernetes_version=fields.kubernetes_version(
            source, values.get("kubernetes_version", DEFAULT_KUBERNETES_VERSION)
        ),
    )
