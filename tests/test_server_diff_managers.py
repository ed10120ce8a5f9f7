"""The server judges our diff where other field managers own fields.

Against the real control plane: the rendered prod environment is applied as ``gitops``; then
each case, seeded and deterministic, lets another writer touch one object the way clusters
see it happen, judges one desired variant of it both ways (local comparison and the
server's dry-run apply, :mod:`diff_corpus`), and restores the object and its managedFields.

The writers: another server-side applier taking a field we set (``force``), or applying the
same value (the field is then shared by two managers); ``kubectl edit`` (a non-apply Update)
changing a field; another applier adding a field we do not set; an autoscaler writing
``spec.replicas`` through ``/scale``. The desired variants: unchanged, the field no longer set
(owned by the other manager alone, or shared), set to a third value, or a random edit; each
with or without ``--ignore-manager`` for that writer. A second corpus edits KServe's
``spec.predictor.containers``, which the upstream CRD declares with no list type: the server
replaces it whole on apply (a container another writer added goes), so local mode must too.
"""

from __future__ import annotations

import copy
import random
import re
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from controlplane import ClusterUnderTest
from diff_corpus import Judge, apply_example, fields, get_in, set_in

from gitops.cluster.client import ClusterClient
from gitops.core import fieldsv1
from gitops.core.keys import key_of
from gitops.inputs.ignore import IgnoreRule

pytestmark = pytest.mark.fake_only

#: Live states written by other managers, each judged with one desired variant.
MANAGER_CASES = 200
#: Edits of a KServe InferenceService's predictor containers (desired and live side).
CONTAINER_CASES = 60
SEED = 20261202

OTHER = "other"  # another server-side applier (kubectl apply --server-side --field-manager)
EDITOR = "kubectl-edit"  # a non-apply Update, as kubectl edit or a controller's PUT
AUTOSCALER = "kube-controller-manager"  # the HPA controller, writing /scale

_FIXED = {"apiVersion", "kind", "name", "namespace", "selector", "matchLabels", "group"}
_QUANTITY = re.compile(r"^(\d+)(m|Ki|Mi|Gi)?$")
_JSON_PATCH = "application/json-patch+json"
_APPLY = "application/apply-patch+yaml"
_MERGE = "application/merge-patch+json"


class Live:
    """Writes to one object as other managers, and puts it back as it was."""

    def __init__(self, cluster: ClusterUnderTest, obj: dict[str, Any]) -> None:
        self.cluster = cluster
        meta = obj["metadata"]
        self.item = cluster._path(
            obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]
        )
        self.original = copy.deepcopy(obj)

    def get(self) -> dict[str, Any]:
        got: dict[str, Any] = self.cluster.plane.api("GET", self.item)
        return got

    def write(self, method: str, body: Any, content_type: str, query: str, sub: str = "") -> bool:
        """One write; False when the server refuses it (an invalid value: no case)."""
        try:
            self.cluster.plane.api(method, f"{self.item}{sub}?{query}", body, content_type)
        except urllib.error.HTTPError as err:
            if err.code in (400, 409, 422):
                return False
            raise
        return True

    def restore(self) -> None:
        """The object and its managedFields as they were.

        Two writes: a PUT of the original puts the values back (and, being an Update, makes
        the values it changed its own), then a JSON patch of ``metadata.managedFields``
        alone, which the server takes as given when nothing else changes.
        """
        for _ in range(10):
            body = copy.deepcopy(self.original)
            body["metadata"]["resourceVersion"] = self.get()["metadata"]["resourceVersion"]
            try:
                self.cluster.plane.api("PUT", self.item, body)
                break
            except urllib.error.HTTPError as err:
                if err.code != 409:  # a controller wrote it between our read and write
                    raise
        else:
            raise AssertionError(f"{self.item}: kept conflicting")
        managed = self.original["metadata"]["managedFields"]
        patch = [{"op": "replace", "path": "/metadata/managedFields", "value": managed}]
        self.cluster.plane.api("PATCH", self.item, patch, _JSON_PATCH)


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def partial(live: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """The smallest object a server-side applier sends to set ``path`` to ``value``.

    A list item that live's managers track by key is named by its key fields; any other
    list (atomic: a CRD's list with no list type) is sent whole, as an applier must.
    """
    everyone = fieldsv1.merged_tree(live, fieldsv1.managers_except(live, [])) or {}

    def build(src: Any, rest: tuple[Any, ...], tree: Any) -> Any:
        if not rest:
            return value
        head, tail = rest[0], rest[1:]
        if isinstance(src, dict):
            return {head: build(src.get(head) or {}, tail, fieldsv1.child(tree, head))}
        item = src[head]
        for frozen, sub in fieldsv1.item_index(tree).items():
            if isinstance(item, dict) and all(item.get(f) == v for f, v in frozen):
                return [{**build(item, tail, sub), **dict(frozen)}]
        whole = copy.deepcopy(src)
        set_in(whole, rest, value)
        return whole

    doc: dict[str, Any] = build(live, path, everyone)
    meta = {k: v for k, v in live["metadata"].items() if k in ("name", "namespace")}
    doc["metadata"] = {**doc.get("metadata", {}), **meta}
    return {"apiVersion": live["apiVersion"], "kind": live["kind"], **doc}


def _leaves(manifest: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    return [
        (p, v)
        for p, v in fields(manifest)
        if p
        and isinstance(v, (bool, int, str))
        and not _FIXED & {s for s in p if isinstance(s, str)}
    ]


def _other_value(value: Any, mark: str) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + (1 if mark == "o" else 2)
    quantity = _QUANTITY.match(value)
    if quantity:  # another amount: "48Gi-o" is no quantity (the server answers 500)
        return f"{int(quantity.group(1)) + (1 if mark == 'o' else 2)}{quantity.group(2) or ''}"
    return f"{value}-{mark}"


def seed_live(
    rng: random.Random, write: str, live: Live, manifest: dict[str, Any]
) -> tuple[str, str, Any]:
    """Another writer touches the object: (what happened, the writer, the path it wrote);
    what is empty when the server refused the write."""
    leaves = _leaves(manifest)
    path, value = rng.choice(leaves)
    current = live.get()
    if write in ("take", "share"):
        if get_in(current, path) != value:
            return "", "", None  # a controller or default rewrote it: not ours to share
        new = _other_value(value, "o") if write == "take" else value
        force = "&force=true" if write == "take" else ""
        ok = live.write(
            "PATCH", partial(current, path, new), _APPLY, f"fieldManager={OTHER}{force}"
        )
        return (f"{write} {path}" if ok else ""), OTHER, path
    if write == "edit":
        op = [{"op": "replace", "path": _pointer(path), "value": _other_value(value, "o")}]
        ok = live.write("PATCH", op, _JSON_PATCH, f"fieldManager={EDITOR}")
        return (f"edit {path}" if ok else ""), EDITOR, path
    if write == "add":
        where = rng.choice([("metadata", "labels", "other"), ("metadata", "annotations", "other")])
        ok = live.write("PATCH", partial(current, where, "yes"), _APPLY, f"fieldManager={OTHER}")
        return (f"add {where}" if ok else ""), OTHER, where
    replicas = int(current["spec"].get("replicas") or 1) + rng.choice([0, 1])
    ok = live.write(
        "PATCH", {"spec": {"replicas": replicas}}, _MERGE, f"fieldManager={AUTOSCALER}", "/scale"
    )
    return (f"scale to {replicas}" if ok else ""), AUTOSCALER, ("spec", "replicas")


def desired_variant(
    rng: random.Random, manifest: dict[str, Any], path: tuple[Any, ...]
) -> tuple[str, dict[str, Any]]:
    """What desired says of the object the writer touched."""
    out = copy.deepcopy(manifest)
    variant = rng.choice(["same", "drop", "revalue"])
    try:
        value = get_in(out, path)
    except (KeyError, IndexError, TypeError):
        return "same", out  # the writer added a field desired never set
    if variant == "drop" and not isinstance(get_in(out, path[:-1]), list):
        del get_in(out, path[:-1])[path[-1]]
        return "drop", out
    if variant == "revalue" and isinstance(value, (bool, int, str)):
        set_in(out, path, _other_value(value, "d"))
        return "revalue", out
    return "same", out


@pytest.fixture
def applied(
    cluster: ClusterUnderTest, tmp_path: Path, project_root: Path
) -> tuple[ClusterClient, list[dict[str, Any]]]:
    """The rendered prod environment applied as ``gitops``; the client and what was applied."""
    return apply_example(cluster, tmp_path, project_root)


def test_local_and_server_diffs_agree_on_fields_other_managers_own(
    cluster: ClusterUnderTest, applied: tuple[ClusterClient, list[dict[str, Any]]]
) -> None:
    client, manifests = applied
    candidates = [m for m in manifests if m["kind"] != "Namespace"]
    stored = {key_of(m): client.get(key_of(m)) for m in candidates}
    judge = Judge(client)
    rng = random.Random(SEED)
    writes: dict[str, int] = {}
    cases = ignored = shared_drops = 0
    workloads = [m for m in candidates if m["kind"] in ("Deployment", "StatefulSet")]
    while cases < MANAGER_CASES:
        write = rng.choice(["take", "share", "edit", "add", "scale"])
        manifest = rng.choice(workloads if write == "scale" else candidates)
        live = Live(cluster, stored[key_of(manifest)])  # type: ignore[arg-type]
        what, writer, path = seed_live(rng, write, live, manifest)
        if not what:
            continue
        try:
            variant, desired = desired_variant(rng, manifest, path)
            ignore = (IgnoreRule(managers=(writer,)),) if rng.random() < 0.3 else ()
            ignored += bool(ignore)
            cases += 1
            writes[what.split()[0]] = writes.get(what.split()[0], 0) + 1
            extra = f" --ignore-manager {writer}" if ignore else ""
            label = f"{key_of(manifest)} {what} by {writer}, desired {variant}{extra}"
            verdicts = judge(label, desired, live.get(), ignore)
            plain = not any(isinstance(step, int) for step in path)  # in no (atomic) list
            if verdicts and write == "share" and variant == "drop" and plain and not ignore:
                # A field another manager applies too stays when we stop applying it: local
                # mode knows this without asking the server.
                shared_drops += 1
                local, server = verdicts
                dropped = ".".join(str(step) for step in path)
                assert dropped not in (*local.removed, *local.cannot_tell), label
                assert (str(local.status), str(server.status)) == ("in-sync", "in-sync"), label
        finally:
            live.restore()
    print(
        f"managers: {cases} cases {writes}, {ignored} ignoring the writer, {judge.counts}, "
        f"{len(judge.disagreements)} disagreements, {shared_drops} shared fields dropped"
    )
    assert judge.disagreements == [], "\n".join(judge.disagreements[:40])
    assert set(writes) == {"take", "share", "edit", "add", "scale"} and shared_drops >= 5
    assert judge.counts["modified"] > 40 and judge.counts["in-sync"] > 40


def custom_predictor(isvc: dict[str, Any]) -> dict[str, Any]:
    """The rendered InferenceService with its model as a custom predictor: containers (the
    model server and a metrics sidecar) instead of ``model``, as KServe documents it."""
    out = copy.deepcopy(isvc)
    out["metadata"]["name"] += "-custom"
    predictor = out["spec"]["predictor"]
    model = predictor.pop("model")
    server = {"name": "kserve-container"}
    server.update((k, v) for k, v in model.items() if k not in ("modelFormat", "storageUri"))
    server["env"] = [{"name": "STORAGE_URI", "value": model["storageUri"]}, *model.get("env", [])]
    sidecar = {"name": "metrics", "image": "registry.example.com/exporter:1.2", "args": ["-v"]}
    predictor["containers"] = [server, sidecar]
    return out


def _container_edit(
    rng: random.Random, isvc: dict[str, Any]
) -> tuple[str, dict[str, Any], list[dict[str, Any]] | None]:
    """A desired edit of the predictor's containers, or a live one by another writer (a JSON
    patch): (what, desired, live patch or None)."""
    out = copy.deepcopy(isvc)
    containers = out["spec"]["predictor"]["containers"]
    first = containers[0]
    extra = {"name": f"extra-{rng.randrange(9)}", "image": "busybox:1.36"}
    where = "/spec/predictor/containers"
    choice = rng.choice(
        ["add", "remove", "live-add", "live-image", "image", "drop-field", "env", "reorder", "args"]
    )
    if choice == "add":
        containers.insert(rng.randrange(len(containers) + 1), extra)
    elif choice == "remove":
        del containers[rng.randrange(len(containers))]
    elif choice == "live-add":
        return choice, out, [{"op": "add", "path": f"{where}/-", "value": extra}]
    elif choice == "live-image":
        index = rng.randrange(len(containers))
        image = containers[index]["image"] + "-hotfix"
        return choice, out, [{"op": "replace", "path": f"{where}/{index}/image", "value": image}]
    elif choice == "image":
        rng.choice(containers)["image"] += "-next"
    elif choice == "drop-field":
        name = rng.choice(sorted(k for k in first if k not in ("name", "image")))
        del first[name]
        choice = f"drop-field {name}"
    elif choice == "env":
        first["env"].append({"name": f"EXTRA_{rng.randrange(9)}", "value": "1"})
    elif choice == "reorder":
        containers.reverse()
    else:
        first["args"] = [*first["args"], "--max-num-seqs=8"]
    return choice, out, None


def test_kserve_predictor_containers_are_replaced_whole_in_both_modes(
    cluster: ClusterUnderTest, applied: tuple[ClusterClient, list[dict[str, Any]]]
) -> None:
    client, manifests = applied
    isvc = custom_predictor(next(m for m in manifests if m["kind"] == "InferenceService"))
    stored = client.apply(isvc, force=True)
    judge = Judge(client)
    assert judge("custom predictor as applied", isvc, stored) is not None
    assert judge.counts["in-sync"] == 1
    rng = random.Random(SEED)
    kinds: dict[str, int] = {}
    for _ in range(CONTAINER_CASES):
        what, desired, live_patch = _container_edit(rng, isvc)
        live = Live(cluster, stored)
        try:
            if live_patch is not None:
                assert live.write("PATCH", live_patch, _JSON_PATCH, f"fieldManager={EDITOR}")
            verdicts = judge(f"InferenceService {what}", desired, live.get())
        finally:
            live.restore()
        kinds[what.split()[0]] = kinds.get(what.split()[0], 0) + 1
        if live_patch is not None:
            # The forced apply replaces the whole list: the live change goes.
            assert verdicts is not None and str(verdicts[1].status) == "modified", what
    print(
        f"predictor containers: {CONTAINER_CASES} cases {kinds}, {judge.counts}, "
        f"{len(judge.disagreements)} disagreements"
    )
    assert judge.disagreements == [], "\n".join(judge.disagreements[:40])
    assert kinds.get("live-add", 0) >= 3 and judge.counts["modified"] > 30
