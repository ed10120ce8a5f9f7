"""Parameter types of :class:`~gitops.constructs.inference.InferenceStack` and their checks.

Every nested parameter is a frozen dataclass; the stack also accepts a plain mapping with
the same snake_case field names (camelCase aliases too, for YAML blueprints), which
:func:`coerce` turns into the dataclass. Each dataclass checks its own fields with
:meth:`check`, raising :class:`~gitops.core.errors.ValidationError` in the form
``InferenceStack 'llama': cache.size must be a Kubernetes quantity, got 'big'``.

Purely data-manipulative: no I/O.
"""

# Over 400 lines: the public parameter types users import from here (ModelCache, Probes,
# Autoscaling, Disruption, Route...), each a documented dataclass with its own check.
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gitops.core.errors import ValidationError
from gitops.core.quantity import is_quantity, parse_quantity
from gitops.core.suggest import did_you_mean

#: Where the Hugging Face libraries keep downloaded models (``HF_HOME``).
HF_CACHE_PATH = "/root/.cache/huggingface"
#: Prometheus served by kube-prometheus-stack / the Prometheus operator, in ``monitoring``.
DEFAULT_PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
#: Autoscaler kinds the stack renders.
AUTOSCALER_KINDS = ("none", "hpa", "keda")
#: PersistentVolumeClaim access modes.
ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")
_PERCENT = re.compile(r"^[0-9]+%$")


def snake_case(key: str) -> str:
    """``minReplicas`` -> ``min_replicas``; snake_case keys are returned unchanged."""
    return _CAMEL.sub(r"_\1", key).lower()


def fail(owner: str, field_name: str, expected: str, given: object) -> ValidationError:
    """The one error shape: ``<owner>: <field> must be <expected>, got <given>``."""
    return ValidationError(f"{owner}: {field_name} must be {expected}, got {given!r}")


def check_int(owner: str, name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise fail(owner, name, f"an integer >= {minimum}", value)
    return value


def check_str(owner: str, name: str, value: object, *, empty: bool = False) -> str:
    """Return ``value`` if it is a string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        raise fail(owner, name, "a non-empty string", value)
    return value


def check_quantity(owner: str, name: str, value: object) -> str:
    """Return ``value`` as a string if it is a positive Kubernetes quantity."""
    if (
        not isinstance(value, (str, int, float))
        or not is_quantity(value)
        or parse_quantity(value) <= 0
    ):
        raise fail(owner, name, "a positive Kubernetes quantity (e.g. '16Gi')", value)
    return str(value)


def check_subdomain(owner: str, name: str, value: object) -> str:
    """Return ``value`` if it is a DNS-1123 subdomain (object names of Secrets, PVCs...)."""
    if not isinstance(value, str) or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise fail(owner, name, "a DNS-1123 subdomain (lowercase letters, digits, '-', '.')", value)
    return value


def check_path(owner: str, name: str, value: object) -> str:
    """Return ``value`` if it is an absolute path."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise fail(owner, name, "an absolute path starting with '/'", value)
    return value


@dataclass(frozen=True)
class ModelCache:
    """Where the engine keeps downloaded weights: a new volume per replica or shared, or an
    existing claim.

    A ReadWriteOnce volume attaches to one node at a time, and the scheduler does not keep
    the replicas that mount it on that node: a second replica elsewhere waits on
    Multi-Attach forever. So a new ``ReadWriteOnce`` (or ``ReadWriteOncePod``) cache is one
    PVC per replica (the engine runs as a StatefulSet with ``volumeClaimTemplates``; each
    replica downloads once and keeps its copy across restarts), while a ``ReadWriteMany``
    cache is one PVC all replicas share (a Deployment; one download, a storage class that
    supports it). An existing claim is shared by every replica, so it must be
    ``ReadWriteMany`` or ``ReadOnlyMany`` unless the stack has at most one replica.

    Attributes:
        size: storage requested per PVC; by default the model's weights (read from its id,
            ``Llama-3.3-70B`` -> 70e9 parameters x 2 bytes) plus 20%. Required when the id
            names no size; refused when smaller than the weights.
        storage_class: StorageClass of the new PVCs (the cluster default when ``None``).
        access_mode: the access mode of the volume (see above).
        existing_claim: mount this PVC instead of creating any.
        mount_path: the Hugging Face cache path (``HF_HOME``); by default
            ``/root/.cache/huggingface``, or ``/data/huggingface`` when the pod runs as
            non-root (root's home is not readable by other users).
    """

    size: str | None = None
    storage_class: str | None = None
    access_mode: str = "ReadWriteOnce"
    existing_claim: str | None = None
    mount_path: str | None = None

    @property
    def per_replica(self) -> bool:
        """Whether each replica gets its own PVC (a new ReadWriteOnce/ReadWriteOncePod one)."""
        return self.existing_claim is None and self.access_mode in (
            "ReadWriteOnce",
            "ReadWriteOncePod",
        )

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        if self.size is not None:
            check_quantity(owner, "cache.size", self.size)
        if self.storage_class is not None:
            check_subdomain(owner, "cache.storage_class", self.storage_class)
        if self.access_mode not in ACCESS_MODES:
            raise fail(
                owner, "cache.access_mode", f"one of {', '.join(ACCESS_MODES)}", self.access_mode
            )
        if self.existing_claim is not None:
            check_subdomain(owner, "cache.existing_claim", self.existing_claim)
        elif self.access_mode == "ReadOnlyMany":
            raise fail(
                owner,
                "cache.access_mode",
                "writable for a new cache (ReadOnlyMany suits an existing, pre-filled claim)",
                self.access_mode,
            )
        if self.mount_path is not None:
            check_path(owner, "cache.mount_path", self.mount_path)


@dataclass(frozen=True)
class SecretKeyRef:
    """A key of a Secret, referenced by the pod (the value never enters a manifest).

    Attributes:
        name: the Secret's name.
        key: the key in the Secret holding the value.
    """

    name: str
    key: str = "token"

    def check(self, owner: str, prefix: str = "hf_token_secret") -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        # The value is not echoed: a token pasted here by mistake must not reach a message.
        name_ok = isinstance(self.name, str) and len(self.name) <= 253
        if not name_ok or not _DNS1123_SUBDOMAIN.match(self.name):
            raise ValidationError(
                f"{owner}: {prefix}.name must be a DNS-1123 subdomain (a Secret's name), got "
                f"{_described(self.name)} (not shown: it may be the secret value itself)"
            )
        if not isinstance(self.key, str) or not _SECRET_KEY.match(self.key):
            raise ValidationError(
                f"{owner}: {prefix}.key must be a Secret key (letters, digits, '-', '_', "
                f"'.'), got {_described(self.key)} (not shown: it may be the secret value)"
            )


def _described(value: object) -> str:
    """What a value is, without showing it."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    return f"a {type(value).__name__}"


#: KServe v1beta1 cannot set the predictor Deployment's progress deadline: it keeps
#: Kubernetes' default (kserve/kserve#5684), which the startup budget must stay within.
KSERVE_PROGRESS_DEADLINE = 600
#: Health paths per mode: vLLM's ``/health``; KServe's model server (v2 protocol) for the
#: Hugging Face runtime.
_PATHS = {
    "vllm": ("/health", "/health", "/health"),
    "kserve": ("/v2/health/ready", "/v2/health/ready", "/v2/health/live"),
}
#: Startup failures tolerated by default: 900 s with vLLM; 540 s with KServe, within the
#: progress deadline it cannot raise.
_STARTUP_FAILURES = {"vllm": 90, "kserve": 54}


@dataclass(frozen=True)
class Probes:
    """Health probes; model loading takes minutes, so the startup budget is generous.

    The startup budget is ``period_seconds * startup_failure_threshold``: 900 s in vllm mode
    (the Deployment's progress deadline is set above it), 540 s in kserve mode (KServe's
    Deployment keeps the 600 s default deadline, so a larger budget is refused).

    Attributes:
        startup_path: HTTP path of the startup probe (mode default when ``None``:
            ``/health``, or ``/v2/health/ready`` for KServe's model server).
        readiness_path: HTTP path of the readiness probe (same defaults).
        liveness_path: HTTP path of the liveness probe (``/health``, ``/v2/health/live``).
        period_seconds: period of every probe.
        startup_failure_threshold: failures tolerated while the model loads (mode default
            when ``None``).
        failure_threshold: failures tolerated by readiness and liveness once started.
        timeout_seconds: timeout of every probe.
    """

    startup_path: str | None = None
    readiness_path: str | None = None
    liveness_path: str | None = None
    period_seconds: int = 10
    startup_failure_threshold: int | None = None
    failure_threshold: int = 3
    timeout_seconds: int = 5

    def for_mode(self, mode: str) -> Probes:
        """These probes with the mode's defaults filled in."""
        startup, readiness, liveness = _PATHS[mode]
        return dataclasses.replace(
            self,
            startup_path=self.startup_path or startup,
            readiness_path=self.readiness_path or readiness,
            liveness_path=self.liveness_path or liveness,
            startup_failure_threshold=self.startup_failure_threshold or _STARTUP_FAILURES[mode],
        )

    @property
    def startup_budget(self) -> int:
        """Seconds the engine may take to start before the kubelet restarts it."""
        return self.period_seconds * (self.startup_failure_threshold or 0)

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        for name in ("startup_path", "readiness_path", "liveness_path"):
            if getattr(self, name) is not None:
                check_path(owner, f"probes.{name}", getattr(self, name))
        for name in ("period_seconds", "failure_threshold", "timeout_seconds"):
            check_int(owner, f"probes.{name}", getattr(self, name), 1)
        if self.startup_failure_threshold is not None:
            check_int(owner, "probes.startup_failure_threshold", self.startup_failure_threshold, 1)


@dataclass(frozen=True)
class Autoscaling:
    """Horizontal autoscaling of the engine on a Prometheus metric of vLLM.

    Attributes:
        kind: ``none`` (fixed replicas), ``hpa`` (autoscaling/v2 on a Pods metric served by a
            metrics adapter) or ``keda`` (a KEDA ScaledObject with a Prometheus trigger).
        min_replicas: lower bound (defaults to the stack's ``replicas``).
        max_replicas: upper bound (defaults to ``max(4, min_replicas)``).
        metric: the vLLM metric scaled on.
        threshold: target value of the metric per replica.
        server_address: Prometheus URL queried by KEDA.
        query: PromQL of the KEDA trigger (defaults to the sum of ``metric`` over the stack's
            pods).
        cooldown_seconds: how long load must stay low before scaling down.
        scale_up_seconds: scale-up stabilization window: a new pod loads the model for
            minutes while the queue stays long, and without a window every evaluation in
            between adds pods for the same load.
        fallback_replicas: the floor KEDA holds while Prometheus cannot be queried (three
            failures in a row; ``spec.fallback`` with ``currentReplicasIfHigher``: an outage
            of the metric never scales the engine down, nor to zero); defaults to
            ``max(min_replicas, 1)``. ``keda`` in vllm mode only.
    """

    kind: str = "none"
    min_replicas: int | None = None
    max_replicas: int | None = None
    metric: str = "vllm:num_requests_waiting"
    threshold: int | float = 5
    server_address: str = DEFAULT_PROMETHEUS
    query: str | None = None
    cooldown_seconds: int = 300
    scale_up_seconds: int = 180
    fallback_replicas: int | None = None

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        if self.kind not in AUTOSCALER_KINDS:
            raise fail(
                owner, "autoscaling.kind", f"one of {', '.join(AUTOSCALER_KINDS)}", self.kind
            )
        if self.min_replicas is not None:
            # HPA needs at least one replica; KEDA (and KServe with KEDA) can scale to zero.
            check_int(
                owner,
                "autoscaling.min_replicas",
                self.min_replicas,
                1 if self.kind == "hpa" else 0,
            )
        if self.max_replicas is not None:
            check_int(owner, "autoscaling.max_replicas", self.max_replicas, 1)
        check_str(owner, "autoscaling.metric", self.metric)
        value = self.threshold
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise fail(owner, "autoscaling.threshold", "a number > 0", value)
        if not isinstance(self.server_address, str) or "://" not in self.server_address:
            raise fail(
                owner,
                "autoscaling.server_address",
                "a URL such as http://prometheus:9090",
                self.server_address,
            )
        if self.query is not None:
            check_str(owner, "autoscaling.query", self.query)
        check_int(owner, "autoscaling.cooldown_seconds", self.cooldown_seconds, 0)
        check_int(owner, "autoscaling.scale_up_seconds", self.scale_up_seconds, 0)
        if self.scale_up_seconds > 3600:
            raise fail(owner, "autoscaling.scale_up_seconds", "at most 3600", self.scale_up_seconds)
        if self.fallback_replicas is not None:
            check_int(owner, "autoscaling.fallback_replicas", self.fallback_replicas, 1)


@dataclass(frozen=True)
class Disruption:
    """The PodDisruptionBudget: exactly one of ``max_unavailable`` or ``min_available``.

    Attributes:
        max_unavailable: pods that may be down during voluntary disruptions (int or ``"N%"``).
        min_available: pods that must stay up (int or ``"N%"``); clears the default
            ``max_unavailable`` when given through a mapping.
    """

    max_unavailable: int | str | None = 1
    min_available: int | str | None = None

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        if (self.max_unavailable is None) == (self.min_available is None):
            raise fail(
                owner,
                "pdb",
                "exactly one of max_unavailable or min_available",
                {"max_unavailable": self.max_unavailable, "min_available": self.min_available},
            )
        for name in ("max_unavailable", "min_available"):
            value = getattr(self, name)
            if value is None:
                continue
            ok_int = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            if not ok_int and not (isinstance(value, str) and _PERCENT.match(value)):
                raise fail(
                    owner, f"pdb.{name}", "an integer >= 0 or a percentage like '50%'", value
                )


@dataclass(frozen=True)
class ParentRef:
    """A Gateway API parent (normally a Gateway) an HTTPRoute attaches to.

    Attributes:
        name: the Gateway's name.
        namespace: the Gateway's namespace (the route's own when ``None``).
        section_name: the listener of the Gateway.
    """

    name: str
    namespace: str | None = None
    section_name: str | None = None


@dataclass(frozen=True)
class Route:
    """Exposure through a Gateway API HTTPRoute.

    Attributes:
        parent_refs: Gateways to attach to: ``ParentRef``s, mappings with its fields, or
            strings ``"name"`` / ``"namespace/name"``.
        hostnames: hostnames the route answers for.
        path_prefix: path prefix routed to the engine.
        request_timeout: Gateway API request timeout; generations stream for minutes.
    """

    parent_refs: Sequence[ParentRef | Mapping[str, Any] | str] = ()
    hostnames: Sequence[str] = ()
    path_prefix: str = "/"
    request_timeout: str | None = "300s"

    def refs(self, owner: str) -> tuple[ParentRef, ...]:
        """The parent references as :class:`ParentRef`, checked."""
        out: list[ParentRef] = []
        for index, ref in enumerate(self.parent_refs):
            where = f"route.parent_refs[{index}]"
            if isinstance(ref, str):
                namespace, _, name = ref.rpartition("/")
                ref = ParentRef(name=name, namespace=namespace or None)
            elif not isinstance(ref, ParentRef):
                ref = coerce(owner, where, ParentRef, ref)
            check_subdomain(owner, f"{where}.name", ref.name)
            if ref.namespace is not None:
                check_subdomain(owner, f"{where}.namespace", ref.namespace)
            if ref.section_name is not None:
                check_subdomain(owner, f"{where}.section_name", ref.section_name)
            out.append(ref)
        return tuple(out)

    def check(self, owner: str) -> None:
        """Raise ValidationError naming ``owner`` and the field if any field is invalid."""
        if isinstance(self.parent_refs, (str, bytes)) or not isinstance(self.parent_refs, Sequence):
            raise fail(owner, "route.parent_refs", "a list of Gateway references", self.parent_refs)
        if not self.parent_refs:
            raise fail(owner, "route.parent_refs", "at least one Gateway reference", [])
        self.refs(owner)
        if isinstance(self.hostnames, (str, bytes)) or not isinstance(self.hostnames, Sequence):
            raise fail(owner, "route.hostnames", "a list of hostnames", self.hostnames)
        for index, host in enumerate(self.hostnames):
            if not isinstance(host, str) or not _DNS1123_SUBDOMAIN.match(host.removeprefix("*.")):
                raise fail(owner, f"route.hostnames[{index}]", "a DNS hostname", host)
        check_path(owner, "route.path_prefix", self.path_prefix)
        if self.request_timeout is not None and (
            not isinstance(self.request_timeout, str)
            or not re.match(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$", self.request_timeout)
        ):
            raise fail(
                owner,
                "route.request_timeout",
                "a Gateway API duration like '300s'",
                self.request_timeout,
            )


_T = TypeVar("_T")


def coerce(owner: str, name: str, cls: type[_T], value: object) -> _T:
    """Return ``value`` as a ``cls`` dataclass: itself, or built from a mapping of its fields.

    Raises:
        ValidationError: ``value`` is neither, or the mapping has a key ``cls`` lacks.
    """
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise fail(owner, name, f"a {cls.__name__} or a mapping", value)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]  # cls is a dataclass
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        snake = snake_case(key) if isinstance(key, str) else key
        if snake not in known:
            expected = f"a mapping with keys {', '.join(known)} (unknown key)"
            raise ValidationError(f"{fail(owner, name, expected, key)}{did_you_mean(snake, known)}")
        kwargs[snake] = item
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        missing = [f for f in known if f not in kwargs]
        raise fail(
            owner, name, f"a mapping with the required key {missing[0]!r}", dict(value)
        ) from err


def as_mapping(value: object) -> dict[str, Any]:
    """The fields of a parameter dataclass as a dict (for merging environment overrides)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}  # type: ignore[arg-type]  # a dataclass instance
