"""The test API server, exercised through the real ``kubernetes`` client over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiserver import ApiServer, Fault, canonical_quantity
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

NS = "ml"


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A real ApiClient for the test server."""
    with config.new_client_from_config(str(kubeconfig), context="test") as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient, apiserver: ApiServer) -> client.CoreV1Api:
    """CoreV1Api with namespace ``ml`` present."""
    apiserver.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return client.CoreV1Api(api)


@pytest.fixture
def dyn(api: client.ApiClient, core: client.CoreV1Api) -> dynamic.DynamicClient:
    """A DynamicClient (discovery through the server)."""
    return dynamic.DynamicClient(api)


def deployment(replicas: int = 2, **container: Any) -> dict[str, Any]:
    """A small Deployment manifest for ``vllm``."""
    labels = {"app": "vllm"}
    main = {"name": "vllm", "image": "vllm/vllm-openai:v0.6.0", **container}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm", "namespace": NS, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [main]}},
        },
    }


def apply(
    dyn: dynamic.DynamicClient, body: dict[str, Any], manager: str = "gitops", **params: Any
) -> dict[str, Any]:
    """Server-side apply ``body``; return the answer as a dict."""
    res = dyn.resources.get(api_version=body["apiVersion"], kind=body["kind"])
    out = res.server_side_apply(
        body=body, namespace=body["metadata"].get("namespace"), field_manager=manager, **params
    )
    result: dict[str, Any] = out.to_dict()
    return result


def status_body(err: ApiException) -> dict[str, Any]:
    """The decoded Status of an API error."""
    body: dict[str, Any] = json.loads(err.body)
    return body


# -- discovery ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "plural"),
    [
        ("v1", "ConfigMap", "configmaps"),
        ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        ("apps/v1", "Deployment", "deployments"),
        ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
        ),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions"),
    ],
)
def test_discovery_serves_builtin_kinds(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, plural: str
) -> None:
    assert dyn.resources.get(api_version=api_version, kind=kind).name == plural


def test_discovery_lists_short_names_and_verbs(core: client.CoreV1Api) -> None:
    rows = {r.name: r for r in core.get_api_resources().resources}
    assert rows["services"].short_names == ["svc"]
    assert "patch" in rows["configmaps"].verbs
    assert rows["namespaces"].namespaced is False


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "inferenceservices.serving.kserve.io"},
    "spec": {
        "group": "serving.kserve.io",
        "scope": "Namespaced",
        "names": {
            "kind": "InferenceService",
            "plural": "inferenceservices",
            "singular": "inferenceservice",
            "shortNames": ["isvc"],
        },
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
            }
        ],
    },
}


def test_crd_creation_serves_its_kind(dyn: dynamic.DynamicClient) -> None:
    crd = apply(dyn, CRD)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "llama", "namespace": NS},
        "spec": {"predictor": {}},
    }
    assert crd["metadata"]["name"] == "inferenceservices.serving.kserve.io"
    assert apply(dyn, isvc)["metadata"]["generation"] == 1


def test_crd_becomes_established(dyn: dynamic.DynamicClient, apiserver: ApiServer) -> None:
    apply(dyn, CRD)
    crd = apiserver.get_object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
        "inferenceservices.serving.kserve.io",
    )
    assert crd is not None
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"


def test_crd_deletion_stops_serving(
    core: client.CoreV1Api, api: client.ApiClient, apiserver: ApiServer
) -> None:
    apiserver.seed(CRD)
    ext = client.ApiextensionsV1Api(api)
    ext.delete_custom_resource_definition("inferenceservices.serving.kserve.io")
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", NS, "inferenceservices"
        )
    assert err.value.status == 404


def test_crd_is_not_served_before_established() -> None:
    with ApiServer(crd_establish_delay=600) as server:
        server.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        server.seed(CRD)
        crd = server.get_object("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                                "inferenceservices.serving.kserve.io")  # fmt: skip
        with pytest.raises(KeyError, match="does not serve"):
            server.get_object("serving.kserve.io/v1beta1", "InferenceService", NS, "x")
    assert crd is not None
    assert "status" not in crd


def test_set_ready_sets_ready_condition_on_custom_resource(apiserver: ApiServer) -> None:
    apiserver.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apiserver.seed(CRD)
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "llama", "namespace": NS}, "spec": {}}  # fmt: skip
    apiserver.seed(isvc)
    apiserver.set_ready(NS, "llama", False, "InferenceService", "serving.kserve.io/v1beta1")
    live = apiserver.get_object("serving.kserve.io/v1beta1", "InferenceService", NS, "llama")
    assert live is not None
    assert live["status"]["conditions"] == [{"type": "Ready", "status": "False"}]


def test_version_reports_git_version(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().git_version.startswith("v1.")


# -- CRUD ----------------------------------------------------------------------------------------


def configmap(name: str, **labels: str) -> dict[str, Any]:
    """A ConfigMap manifest."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "data": {"k": "v"},
    }


def test_create_get_update_delete_round_trip(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map(NS, configmap("a"))
    created.data = {"k": "w"}
    updated = core.replace_namespaced_config_map("a", NS, created)
    assert core.read_namespaced_config_map("a", NS).data == {"k": "w"}
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_config_map("a", NS)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("a", NS)
    assert status_body(err.value)["message"] == 'configmaps "a" not found'


def test_create_sets_server_metadata(core: client.CoreV1Api) -> None:
    meta = core.create_namespaced_config_map(NS, configmap("a")).metadata
    assert (len(meta.uid), meta.creation_timestamp is not None, meta.namespace) == (36, True, NS)


def test_create_twice_is_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, configmap("a"))
    body = status_body(err.value)
    assert (err.value.status, body["reason"], body["details"]["kind"]) == (
        409,
        "AlreadyExists",
        "configmaps",
    )


def test_create_in_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nope", configmap("a"))
    assert status_body(err.value)["message"] == 'namespaces "nope" not found'


def test_stale_resource_version_update_conflicts(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map(NS, configmap("a"))
    core.patch_namespaced_config_map("a", NS, {"data": {"k": "x"}})
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("a", NS, first)
    assert (err.value.status, status_body(err.value)["reason"]) == (409, "Conflict")


def test_create_with_resource_version_fails(core: client.CoreV1Api) -> None:
    body = configmap("a")
    body["metadata"]["resourceVersion"] = "7"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, body)
    assert (err.value.status, status_body(err.value)["message"]) == (
        500,
        "resourceVersion should not be set on objects to be created",
    )


def test_apply_with_stale_resource_version_conflicts(dyn: dynamic.DynamicClient) -> None:
    first = apply(dyn, deployment())
    apply(dyn, deployment(replicas=3))
    stale = deployment(replicas=4)
    stale["metadata"]["resourceVersion"] = first["metadata"]["resourceVersion"]
    with pytest.raises(dynamic.exceptions.ConflictError) as err:
        apply(dyn, stale)
    assert "the object has been modified" in json.loads(err.value.body)["message"]


def test_namespace_defaults(core: client.CoreV1Api) -> None:
    ns = core.read_namespace(NS)
    assert ns.spec.finalizers == ["kubernetes"]
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == NS
    assert ns.status.phase == "Active"


# -- LIST ----------------------------------------------------------------------------------------


def test_pagination_returns_every_object_once(core: client.CoreV1Api) -> None:
    for i in range(7):
        core.create_namespaced_config_map(NS, configmap(f"cm-{i}"))
    names, token, pages = [], None, 0
    while True:
        page = core.list_namespaced_config_map(NS, limit=3, _continue=token)
        names += [i.metadata.name for i in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        core.create_namespaced_config_map(NS, configmap(f"late-{pages}"))
    assert (sorted(names), pages) == ([f"cm-{i}" for i in range(7)], 3)


def test_expired_continue_token_is_gone(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    for i in range(3):
        core.create_namespaced_config_map(NS, configmap(f"cm-{i}"))
    token = core.list_namespaced_config_map(NS, limit=1).metadata._continue
    apiserver.expire_continue_tokens()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(NS, limit=1, _continue=token)
    assert (err.value.status, status_body(err.value)["reason"]) == (410, "Expired")


def test_list_across_namespaces(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    apiserver.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    core.create_namespaced_config_map(NS, configmap("a"))
    core.create_namespaced_config_map("other", {**configmap("b"), "metadata": {"name": "b"}})
    listed = core.list_config_map_for_all_namespaces()
    assert [(i.metadata.namespace, i.metadata.name) for i in listed.items] == [
        (NS, "a"),
        ("other", "b"),
    ]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=vllm", ["a", "b"]),
        ("app==vllm,tier=gpu", ["a"]),
        ("app!=vllm", ["c", "d"]),
        ("tier in (gpu,cpu)", ["a", "c"]),
        ("tier notin (gpu)", ["b", "c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
    ],
)
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    core.create_namespaced_config_map(NS, configmap("a", app="vllm", tier="gpu"))
    core.create_namespaced_config_map(NS, configmap("b", app="vllm"))
    core.create_namespaced_config_map(NS, configmap("c", app="web", tier="cpu"))
    core.create_namespaced_config_map(NS, configmap("d"))
    listed = core.list_namespaced_config_map(NS, label_selector=selector)
    assert [i.metadata.name for i in listed.items] == expected


def test_field_selector_on_name(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    core.create_namespaced_config_map(NS, configmap("b"))
    listed = core.list_namespaced_config_map(NS, field_selector="metadata.name=b")
    assert [i.metadata.name for i in listed.items] == ["b"]


def test_list_has_kind_and_resource_version(api: client.ApiClient, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    raw = client.CoreV1Api(api).list_namespaced_config_map(NS, _preload_content=False)
    body = json.loads(raw.data)
    assert (body["kind"], body["metadata"]["resourceVersion"] != "") == ("ConfigMapList", True)


def test_watch_starts_with_existing_objects(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("a", app="vllm"))
    core.create_namespaced_config_map(NS, configmap("b"))
    watcher = watch.Watch()
    events = watcher.stream(core.list_namespaced_config_map, NS, label_selector="app=vllm")
    first = next(events)
    watcher.stop()
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "a")


def test_watch_from_resource_version_replays_changes(core: client.CoreV1Api) -> None:
    since = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, configmap("a"))
    core.delete_namespaced_config_map("a", NS)
    watcher = watch.Watch()
    events = watcher.stream(core.list_namespaced_config_map, NS, resource_version=since)
    seen = [next(events)["type"] for _ in range(2)]
    watcher.stop()
    assert seen == ["ADDED", "DELETED"]


# -- defaulting ----------------------------------------------------------------------------------


def test_deployment_defaults(dyn: dynamic.DynamicClient) -> None:
    probe = {"httpGet": {"path": "/health", "port": 8000}}
    spec = apply(dyn, deployment(ports=[{"containerPort": 8000}], readinessProbe=probe))["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["terminationGracePeriodSeconds"]) == (
        "Always",
        "ClusterFirst",
        30,
    )
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["ports"] == [{"containerPort": 8000, "protocol": "TCP"}]
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/health", "port": 8000, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_latest_image_defaults_to_pull_always(dyn: dynamic.DynamicClient) -> None:
    spec = apply(dyn, deployment(image="vllm/vllm-openai"))["spec"]
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_service_defaults(core: client.CoreV1Api) -> None:
    svc = {
        "metadata": {"name": "vllm"},
        "spec": {"selector": {"app": "vllm"}, "ports": [{"name": "http", "port": 80}]},
    }
    spec = core.create_namespaced_service(NS, svc).spec
    assert (spec.type, spec.session_affinity, spec.ip_family_policy) == (
        "ClusterIP",
        "None",
        "SingleStack",
    )
    assert spec.cluster_ips == [spec.cluster_ip]
    assert (spec.ports[0].protocol, spec.ports[0].target_port) == ("TCP", 80)


def test_node_port_is_allocated_and_kept_on_update(core: client.CoreV1Api) -> None:
    svc = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    created = core.create_namespaced_service(NS, svc)
    replaced = core.replace_namespaced_service("np", NS, svc)
    assert created.spec.ports[0].node_port is not None
    assert replaced.spec.ports[0].node_port == created.spec.ports[0].node_port
    assert replaced.spec.external_traffic_policy == "Cluster"


def test_secret_string_data_is_folded_into_data(core: client.CoreV1Api) -> None:
    secret = {"metadata": {"name": "token"}, "stringData": {"hf": "abc"}}
    out = core.create_namespaced_secret(NS, secret)
    assert (out.type, out.data, out.string_data) == ("Opaque", {"hf": "YWJj"}, None)


@pytest.mark.parametrize(
    ("manifest", "path", "expected"),
    [
        ({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "spec": {"podSelector": {}, "egress": [{}]}},
         ("spec", "policyTypes"), ["Ingress", "Egress"]),
        ({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
          "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"]}]}}},
         ("spec", "failurePolicy"), "Fail"),
        ({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
          "spec": {"maxReplicas": 3}}, ("spec", "minReplicas"), 1),
        ({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 10},
         ("preemptionPolicy",), "PreemptLowerPriority"),
        ({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {}}}},
         ("spec", "backoffLimit"), 6),
    ],
)  # fmt: skip
def test_kind_defaults(
    dyn: dynamic.DynamicClient, manifest: dict[str, Any], path: tuple[str, ...], expected: Any
) -> None:
    body = {**manifest, "metadata": {"name": "x", "namespace": NS}}
    value: Any = apply(dyn, body)
    for key in path:
        value = value[key]
    assert value == expected


def test_cluster_scoped_object_drops_namespace(dyn: dynamic.DynamicClient) -> None:
    body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 10,
            "metadata": {"name": "x", "namespace": NS}}  # fmt: skip
    assert "namespace" not in apply(dyn, body)["metadata"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("0.5", "500m"),
        ("2000", "2k"),
        ("1500m", "1500m"),
        (4, "4"),
        ("1e3", "1e3"),
        ("100Gi", "100Gi"),
    ],
)
def test_canonical_quantity(sent: str | int, stored: str) -> None:
    assert canonical_quantity(sent) == stored


def test_resource_quantities_are_canonicalized(dyn: dynamic.DynamicClient) -> None:
    limits = {"cpu": "1000m", "memory": "1024Mi", "nvidia.com/gpu": 1}
    spec = apply(dyn, deployment(resources={"limits": limits}))["spec"]
    stored = spec["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert stored == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}


def test_deployment_reports_ready(dyn: dynamic.DynamicClient) -> None:
    status = apply(dyn, deployment(replicas=3))["status"]
    assert (status["readyReplicas"], status["availableReplicas"], status["observedGeneration"]) == (
        3,
        3,
        1,
    )


def test_set_ready_false_makes_deployment_unavailable(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment())
    apiserver.set_ready(NS, "vllm", ready=False)
    live = apiserver.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    assert "readyReplicas" not in live["status"]
    assert live["status"]["conditions"][0] == {
        "type": "Available",
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
    }


def test_generation_counts_spec_changes_only(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(replicas=1))
    labelled = deployment(replicas=1)
    labelled["metadata"]["labels"]["team"] = "ml"
    assert apply(dyn, labelled)["metadata"]["generation"] == 1
    labelled["spec"]["replicas"] = 2
    assert apply(dyn, labelled)["metadata"]["generation"] == 2


# -- server-side apply ---------------------------------------------------------------------------


def managed_entry(obj: dict[str, Any], manager: str) -> dict[str, Any] | None:
    """The managedFields entry of ``manager``, if any."""
    for entry in obj["metadata"].get("managedFields", []):
        if entry["manager"] == manager:
            found: dict[str, Any] = entry
            return found
    return None


def test_apply_records_fields_v1_ownership(dyn: dynamic.DynamicClient) -> None:
    entry = managed_entry(apply(dyn, deployment(env=[{"name": "A", "value": "1"}])), "gitops")
    assert entry is not None
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "Apply",
        "apps/v1",
        "FieldsV1",
    )
    container = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert container['k:{"name":"vllm"}'] == {
        ".": {},
        "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
        "f:image": {},
        "f:name": {},
    }


def test_apply_does_not_own_defaulted_fields(dyn: dynamic.DynamicClient) -> None:
    entry = managed_entry(apply(dyn, deployment()), "gitops")
    assert entry is not None
    assert "f:strategy" not in entry["fieldsV1"]["f:spec"]


def test_create_records_update_ownership_with_defaults(core: client.CoreV1Api) -> None:
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    created = core.create_namespaced_service(NS, svc, field_manager="kubectl-create")
    entry = created.metadata.managed_fields[0]
    assert (entry.manager, entry.operation) == ("kubectl-create", "Update")
    assert "f:sessionAffinity" in entry.fields_v1["f:spec"]


def test_reapply_unchanged_keeps_resource_version(dyn: dynamic.DynamicClient) -> None:
    first = apply(dyn, deployment())
    second = apply(dyn, deployment())
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert second["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def hpa_scales(apiserver: ApiServer, replicas: int) -> None:
    """Simulate the HPA controller writing spec.replicas (an Update operation)."""
    live = apiserver.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    live["spec"]["replicas"] = replicas
    del live["status"]
    apiserver.seed(live, manager="kube-controller-manager", operation="Update")


def test_apply_conflicts_with_another_owner(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment(replicas=2))
    hpa_scales(apiserver, 5)
    with pytest.raises(dynamic.exceptions.ConflictError) as err:
        apply(dyn, deployment(replicas=2))
    body = json.loads(err.value.body)
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" using apps/v1: '
        ".spec.replicas"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kube-controller-manager" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_conflicting_apply_changes_nothing(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment(replicas=2))
    hpa_scales(apiserver, 5)
    with pytest.raises(dynamic.exceptions.ConflictError):
        apply(dyn, deployment(replicas=2, image="vllm/vllm-openai:v0.7.0"))
    live = apiserver.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v0.6.0")


def test_apply_conflicts_on_atomic_selector(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "vllm", "namespace": NS},
           "spec": {"selector": {"app": "vllm"}, "ports": [{"port": 80}]}}  # fmt: skip
    apply(dyn, svc)
    live = apiserver.get_object("v1", "Service", NS, "vllm")
    assert live is not None
    live["spec"]["selector"] = {"app": "other"}
    apiserver.seed(live, manager="kubectl-edit")
    with pytest.raises(dynamic.exceptions.ConflictError) as err:
        apply(dyn, svc)
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == ".spec.selector"


def test_force_apply_takes_ownership(dyn: dynamic.DynamicClient, apiserver: ApiServer) -> None:
    apply(dyn, deployment(replicas=2))
    hpa_scales(apiserver, 5)
    out = apply(dyn, deployment(replicas=2), force_conflicts=True)
    assert out["spec"]["replicas"] == 2
    assert managed_entry(out, "kube-controller-manager") is None
    entry = managed_entry(out, "gitops")
    assert entry is not None
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]


def test_scale_subresource_reads_replicas_and_selector(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(replicas=3))
    scale = client.AppsV1Api(dyn.client).read_namespaced_deployment_scale("vllm", NS)
    assert (scale.spec.replicas, scale.status.selector) == (3, "app=vllm")


def test_scale_by_hpa_conflicts_with_next_apply(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(replicas=2))
    client.AppsV1Api(dyn.client).patch_namespaced_deployment_scale(
        "vllm", NS, {"spec": {"replicas": 6}}, field_manager="kube-controller-manager"
    )
    with pytest.raises(dynamic.exceptions.ConflictError) as err:
        apply(dyn, deployment(replicas=2))
    cause = json.loads(err.value.body)["details"]["causes"][0]
    assert cause["message"] == 'conflict with "kube-controller-manager" using apps/v1'


def test_apply_of_same_value_shares_ownership(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment(replicas=2))
    hpa_scales(apiserver, 5)
    out = apply(dyn, deployment(replicas=5))
    owner = managed_entry(out, "kube-controller-manager")
    assert owner is not None
    assert "f:replicas" in owner["fieldsV1"]["f:spec"]


def test_apply_removes_fields_dropped_from_config(dyn: dynamic.DynamicClient) -> None:
    body = deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    body["metadata"]["labels"]["team"] = "ml"
    apply(dyn, body)
    out = apply(dyn, deployment(env=[{"name": "A", "value": "1"}]))
    assert out["metadata"]["labels"] == {"app": "vllm"}
    assert out["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_apply_keeps_dropped_field_another_manager_owns(dyn: dynamic.DynamicClient) -> None:
    body = deployment()
    body["metadata"]["labels"]["team"] = "ml"
    apply(dyn, body)
    apply(dyn, body, manager="platform")
    out = apply(dyn, deployment())
    assert out["metadata"]["labels"] == {"app": "vllm", "team": "ml"}


def test_apply_keeps_fields_set_by_kubectl_edit(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment())
    live = apiserver.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    live["metadata"]["labels"]["debug"] = "true"
    apiserver.seed(live, manager="kubectl-edit")
    out = apply(dyn, deployment())
    assert out["metadata"]["labels"]["debug"] == "true"


def test_apply_follows_applied_list_order(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    out = apply(dyn, deployment(env=[{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]))
    assert [e["name"] for e in out["spec"]["template"]["spec"]["containers"][0]["env"]] == [
        "B",
        "A",
    ]


def test_apply_without_field_manager_is_rejected(dyn: dynamic.DynamicClient) -> None:
    res = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    with pytest.raises(dynamic.exceptions.BadRequestError) as err:
        res.patch(body=deployment(), namespace=NS, content_type="application/apply-patch+yaml")
    assert "fieldManager: Required value" in json.loads(err.value.body)["message"]


def test_apply_ignores_status(dyn: dynamic.DynamicClient) -> None:
    body = deployment(replicas=2)
    body["status"] = {"readyReplicas": 99}
    assert apply(dyn, body)["status"]["readyReplicas"] == 2


# -- dry run -------------------------------------------------------------------------------------


def test_dry_run_create_persists_nothing(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    before = core.list_namespaced_config_map(NS).metadata.resource_version
    out = core.create_namespaced_config_map(NS, configmap("a"), dry_run="All")
    assert (out.metadata.uid is not None, out.metadata.resource_version) == (True, None)
    assert apiserver.get_object("v1", "ConfigMap", NS, "a") is None
    assert core.list_namespaced_config_map(NS).metadata.resource_version == before


def test_dry_run_apply_answers_without_persisting(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    first = apply(dyn, deployment(replicas=2))
    out = apply(dyn, deployment(replicas=4), dry_run="All")
    live = apiserver.get_object("apps/v1", "Deployment", NS, "vllm")
    assert live is not None
    assert (out["spec"]["replicas"], live["spec"]["replicas"]) == (4, 2)
    assert out["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert live["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_dry_run_delete_keeps_object(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    core.delete_namespaced_config_map("a", NS, dry_run="All")
    assert apiserver.get_object("v1", "ConfigMap", NS, "a") is not None


# -- patch formats -------------------------------------------------------------------------------


def test_merge_patch_null_deletes_key(dyn: dynamic.DynamicClient, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, {**configmap("a"), "data": {"k": "v", "x": "y"}})
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    patch = {"data": {"x": None}}
    out = cms.patch(name="a", namespace=NS, body=patch, content_type="application/merge-patch+json")
    assert out.data.to_dict() == {"k": "v"}


def test_strategic_merge_patch_merges_containers_by_name(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apply(dyn, deployment(env=[{"name": "A", "value": "1"}]))
    apps = client.AppsV1Api(dyn.client)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "vllm", "env": [{"name": "B", "value": "2"}]}]}}}}  # fmt: skip
    out = apps.patch_namespaced_deployment("vllm", NS, patch)
    container = out.spec.template.spec.containers[0]
    assert (container.image, [e.name for e in container.env]) == (
        "vllm/vllm-openai:v0.6.0",
        ["A", "B"],
    )


def test_strategic_merge_patch_deletes_list_item(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    apps = client.AppsV1Api(dyn.client)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "vllm", "env": [{"name": "A", "$patch": "delete"}]}]}}}}  # fmt: skip
    out = apps.patch_namespaced_deployment("vllm", NS, patch)
    assert [e.name for e in out.spec.template.spec.containers[0].env] == ["B"]


def test_json_patch_replaces_value(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(replicas=2))
    apps = client.AppsV1Api(dyn.client)
    out = apps.patch_namespaced_deployment(
        "vllm", NS, [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    assert (out.spec.replicas, out.metadata.generation) == (3, 2)


def test_patch_takes_ownership_from_applier(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment(replicas=2))
    apps = client.AppsV1Api(dyn.client)
    out = apps.patch_namespaced_deployment(
        "vllm", NS, {"spec": {"replicas": 7}}, field_manager="kubectl-scale"
    ).to_dict()
    owners = {e["manager"]: e for e in out["metadata"]["managed_fields"]}
    assert "f:replicas" in owners["kubectl-scale"]["fields_v1"]["f:spec"]
    assert "f:replicas" not in owners["gitops"]["fields_v1"]["f:spec"]


def test_spec_write_leaves_status_alone(dyn: dynamic.DynamicClient, apiserver: ApiServer) -> None:
    cms = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "cache", "namespace": NS},
           "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}}},
           "status": {"phase": "Bound"}}  # fmt: skip
    apiserver.seed(cms, manager="gitops", operation="Apply")
    cms["spec"]["resources"]["requests"]["storage"] = "20Gi"
    cms["status"] = {"phase": "Lost"}
    out = apply(dyn, cms)
    assert (out["status"], out["spec"]["volumeMode"]) == ({"phase": "Bound"}, "Filesystem")


def pvc() -> dict[str, Any]:
    """A PersistentVolumeClaim manifest."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "cache", "namespace": NS},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "10Gi"}}}}  # fmt: skip


def test_status_patch_changes_only_status(core: client.CoreV1Api) -> None:
    core.create_namespaced_persistent_volume_claim(NS, pvc())
    patch = {"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}
    out = core.patch_namespaced_persistent_volume_claim_status("cache", NS, patch)
    assert (out.status.phase, out.spec.volume_name) == ("Bound", None)


def test_status_apply_owns_status_fields_only(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, pvc())
    claims = dyn.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    body = {**pvc(), "status": {"phase": "Bound"}}
    out = claims.status.server_side_apply(body=body, namespace=NS, field_manager="binder")
    entry = managed_entry(out.to_dict(), "binder")
    assert entry is not None
    assert (entry["subresource"], entry["fieldsV1"]) == ("status", {"f:status": {"f:phase": {}}})


def test_deletecollection_honours_label_selector(
    core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    core.create_namespaced_config_map(NS, configmap("a", app="vllm"))
    core.create_namespaced_config_map(NS, configmap("b"))
    core.delete_collection_namespaced_config_map(NS, label_selector="app=vllm")
    assert [o["metadata"]["name"] for o in apiserver.objects("v1", "ConfigMap")] == ["b"]


# -- immutable fields ---------------------------------------------------------------------------


def test_changing_deployment_selector_is_invalid(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, deployment())
    changed = deployment()
    changed["spec"]["selector"]["matchLabels"]["tier"] = "gpu"
    changed["spec"]["template"]["metadata"]["labels"]["tier"] = "gpu"
    with pytest.raises(dynamic.exceptions.UnprocessibleEntityError) as err:
        apply(dyn, changed)
    body = json.loads(err.value.body)
    assert body["message"].startswith('Deployment.apps "vllm" is invalid: spec.selector: ')
    assert body["message"].endswith(": field is immutable")
    assert body["details"]["causes"][0]["field"] == "spec.selector"


def test_pvc_spec_is_immutable_except_requests(dyn: dynamic.DynamicClient) -> None:
    apply(dyn, pvc())
    grown = pvc()
    grown["spec"]["resources"]["requests"]["storage"] = "20Gi"
    assert apply(dyn, grown)["spec"]["resources"]["requests"]["storage"] == "20Gi"
    grown["spec"]["storageClassName"] = "fast"
    with pytest.raises(dynamic.exceptions.UnprocessibleEntityError) as err:
        apply(dyn, grown)
    assert "spec is immutable after creation" in json.loads(err.value.body)["message"]


def test_service_update_keeps_allocated_cluster_ip(core: client.CoreV1Api) -> None:
    svc = {"metadata": {"name": "vllm"}, "spec": {"ports": [{"port": 80}]}}
    created = core.create_namespaced_service(NS, svc)
    replaced = core.replace_namespaced_service("vllm", NS, svc)
    assert replaced.spec.cluster_ip == created.spec.cluster_ip


# -- delete and admission denials ----------------------------------------------------------------


def test_denied_delete_answers_like_a_webhook(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    apiserver.deny_delete("ConfigMap", NS, "a", "protected by policy")
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("a", NS, propagation_policy="Foreground")
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'admission webhook "deny.gitops.test" denied the request: protected by policy'
    )
    assert apiserver.get_object("v1", "ConfigMap", NS, "a") is not None


def test_namespace_delete_removes_its_objects(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    core.create_namespaced_config_map(NS, configmap("a"))
    core.delete_namespace(NS)
    assert apiserver.objects("v1", "ConfigMap") == []


# -- faults, auth, request log -------------------------------------------------------------------


@pytest.fixture
def no_retry_core(kubeconfig: Path, core: client.CoreV1Api) -> Iterator[client.CoreV1Api]:
    """CoreV1Api whose urllib3 pool does not retry (so every fault reaches the caller)."""
    cfg = client.Configuration()
    config.load_kube_config(str(kubeconfig), context="test", client_configuration=cfg)
    cfg.retries = False
    with client.ApiClient(cfg) as api_client:
        yield client.CoreV1Api(api_client)


def test_429_fault_carries_retry_after(
    no_retry_core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    apiserver.inject(Fault(verb="list", kind="ConfigMap", status=429, retry_after=3))
    with pytest.raises(ApiException) as err:
        no_retry_core.list_namespaced_config_map(NS)
    assert (err.value.status, err.value.headers["Retry-After"]) == (429, "3")
    assert status_body(err.value)["reason"] == "TooManyRequests"


def test_default_client_retries_429_after_retry_after(
    core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    apiserver.inject(Fault(verb="list", kind="ConfigMap", status=429, retry_after=0))
    assert core.list_namespaced_config_map(NS).items == []
    assert apiserver.count(verb="list", kind="ConfigMap") == 2


def test_fault_fires_only_its_number_of_times(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    apiserver.inject(Fault(path="/configmaps", status=500, times=1))
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(NS)
    assert err.value.status == 500
    assert core.list_namespaced_config_map(NS).items == []


def test_422_fault_reads_as_invalid(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    apiserver.inject(Fault(verb="create", status=422, message="spec.x: Invalid value"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, configmap("a"))
    body = status_body(err.value)
    assert (err.value.status, body["reason"], body["message"]) == (
        422,
        "Invalid",
        "spec.x: Invalid value",
    )


def test_slow_fault_trips_client_timeout(
    no_retry_core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    from urllib3.exceptions import ReadTimeoutError

    apiserver.inject(Fault(verb="get", status=0, delay=0.5))
    with pytest.raises(ReadTimeoutError):
        no_retry_core.read_namespace(NS, _request_timeout=0.1)


def test_connection_reset_fault_surfaces(core: client.CoreV1Api, apiserver: ApiServer) -> None:
    from urllib3.exceptions import HTTPError

    apiserver.inject(Fault(verb="get", reset=True, times=10))
    with pytest.raises(HTTPError):
        core.read_namespace(NS)
    assert apiserver.requests[-1].code == 0


def test_token_is_required_when_configured(tmp_path: Path) -> None:
    with ApiServer(token="s3cret") as server:
        good = server.write_kubeconfig(tmp_path / "good")
        with config.new_client_from_config(str(good), context="test") as api_client:
            assert client.CoreV1Api(api_client).list_namespace().items == []
        bad = client.Configuration(host=server.url)
        with client.ApiClient(bad) as api_client, pytest.raises(ApiException) as err:
            client.CoreV1Api(api_client).list_namespace()
    assert err.value.status == 401


def test_requests_are_counted_by_verb_and_kind(
    core: client.CoreV1Api, apiserver: ApiServer
) -> None:
    apiserver.reset_requests()
    core.create_namespaced_config_map(NS, configmap("a"))
    core.list_namespaced_config_map(NS)
    core.list_config_map_for_all_namespaces()
    core.read_namespaced_config_map("a", NS)
    assert (apiserver.count(verb="list", kind="ConfigMap"), apiserver.count(verb="get")) == (2, 1)
    assert apiserver.count(kind="ConfigMap", namespace=NS) == 3


def test_request_log_records_apply_and_dry_run(
    dyn: dynamic.DynamicClient, apiserver: ApiServer
) -> None:
    apiserver.reset_requests()
    apply(dyn, deployment(), dry_run="All")
    record = apiserver.requests[-1]
    assert (record.verb, record.is_apply, record.field_manager, record.dry_run) == (
        "patch",
        True,
        "gitops",
        True,
    )
    assert apiserver.count(verb="apply", kind="Deployment") == 1
