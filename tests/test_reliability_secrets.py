"""Reliability: Secret values never reach Git, outputs, logs or exceptions.

Two halves:

- Plaintext Secrets are refused at render time (before policies see them and before
  anything is committed), with a message naming the supported ways and no value.
- A redaction corpus: distinctive canary values in ``data``, ``stringData``, the kubectl
  last-applied annotation and invalid Secrets, run through render, check and diff in
  every output format with debug logging on; no canary (plain or base64) may appear in
  stdout, stderr, log records or exception text.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from controlplane import ClusterUnderTest
from helpers.blueprints import RAW_CONSTRUCT

from gitops.cli.main import main
from gitops.constructs.base import Scope
from gitops.constructs.inference import InferenceStack
from gitops.core.errors import GitOpsError, RenderError, ValidationError
from gitops.inputs.environments import Environment, load_environments
from gitops.policy import evaluate
from gitops.render.pipeline import render_environments, render_tree
from gitops.render.secrets import plaintext_fields
from gitops.workflows.render import render_to_repo


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a directory without environments/: the example's dev and prod would bind
    the test repositories' environments to the example's clusters."""
    monkeypatch.chdir(tmp_path)


TINY = Path(__file__).parent / "fixtures" / "tiny"

#: Canary values: each must never appear in any output.
CANARIES = {
    "data": "canary-data-7f3a9c",
    "data-same": "canary-same-9b1d",
    "live-data": "canary-live-33dd",
    "live-only": "canary-old-44ee",
    "stringData": "canary-string-51be",
    "last-applied": "canary-lastapplied-c0de",
    "invalid-string": "canary-invalid-88aa",
    "invalid-list": "canary-invalid-list-77",
    "not-base64": "canary!!notbase64",
    "token": "hf_canaryTOKEN0123456789",
}


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def forms() -> list[str]:
    """Every canary in plain text and base64 (what a careless output would show)."""
    return [*CANARIES.values(), *(b64(v) for v in CANARIES.values())]


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        leaked = [form for form in forms() if form in text]
        assert not leaked, f"secret values leaked: {leaked}"


# -- plaintext Secrets are refused at render time --------------------------------------------

SECRET_BLUEPRINT = (
    RAW_CONSTRUCT
    + """

OBJECTS = {objects!r}


def blueprint(scope, env):
    for index, obj in enumerate(OBJECTS):
        Raw(scope, f"raw-{{index}}", obj)
"""
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def with_objects(tiny: Path, *objects: dict[str, Any]) -> Path:
    (tiny / "blueprints" / "raw.py").write_text(SECRET_BLUEPRINT.format(objects=list(objects)))
    return tiny


def secret(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "apps"},
        **fields,
    }


PLAINTEXT = {
    "data": secret("db", data={"password": b64(CANARIES["data"])}),
    "stringData": secret("db", stringData={"password": CANARIES["stringData"]}),
    "data-not-a-mapping": secret("db", data=CANARIES["invalid-string"]),
    "data-a-list": secret("db", data=[CANARIES["invalid-list"]]),
    "sops-block-without-mac": secret(
        "db", data={"password": b64(CANARIES["data"])}, sops={"version": "3.9.0"}
    ),
}


@pytest.mark.parametrize("case", sorted(PLAINTEXT))
def test_plaintext_secret_is_refused_before_anything_is_committed(
    tiny: Path, tmp_path: Path, case: str
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    with_objects(tiny, PLAINTEXT[case])
    with pytest.raises(RenderError, match=r"refusing to commit Secret values") as caught:
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert str(pygit2.Repository(str(repo)).references["refs/heads/main"].target) == first.commit
    assert_no_canary(str(caught.value), repr(caught.value))


def test_refusal_names_the_object_the_keys_and_every_supported_way(tiny: Path) -> None:
    with_objects(tiny, secret("db", data={"password": b64(CANARIES["data"])}))
    with pytest.raises(RenderError) as caught:
        render_environments(tiny / "blueprints", tiny / "environments")
    message = str(caught.value)
    assert "Secret apps/db (blueprint raw, environment alpha" in message
    assert "data.password" in message
    for way in ("secretKeyRef", "SealedSecret", "bitnami.com/v1alpha1", "ExternalSecret"):
        assert way in message
    assert "external-secrets.io" in message and "SOPS" in message and "sops:" in message


SUPPORTED = {
    "sealed-secret": {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA=="}},
    },
    "external-secret": {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db", "namespace": "apps"},
        "spec": {
            "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
            "target": {"name": "db"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "db/password"}}],
        },
    },
    "sops-encrypted": secret(
        "db",
        data={"password": "ENC[AES256_GCM,data:Tr7o=,iv:1=,tag:2=,type:str]"},
        sops={"mac": "ENC[AES256_GCM,data:x=,iv:y=,tag:z=,type:str]", "version": "3.9.0"},
    ),
    "secret-without-values": secret("db", type="kubernetes.io/service-account-token"),
    "reference-to-existing-secret": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "uses-db", "namespace": "apps"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example.com/app:1",
                    "env": [
                        {
                            "name": "PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                        }
                    ],
                }
            ]
        },
    },
}


@pytest.mark.parametrize("case", sorted(SUPPORTED))
def test_supported_ways_of_deploying_secrets_are_committed(
    tiny: Path, tmp_path: Path, case: str
) -> None:
    with_objects(tiny, SUPPORTED[case])
    result = render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    assert result.created
    assert any(SUPPORTED[case]["kind"].lower() in path for path in result.added)


def test_render_tree_refuses_plaintext_secrets_from_any_producer(tiny: Path) -> None:
    envs = load_environments(tiny / "environments")
    rendered = {"alpha": [secret("db", stringData={"password": CANARIES["stringData"]})]}
    with pytest.raises(RenderError, match=r"environment alpha: refusing") as caught:
        render_tree(rendered, envs)
    assert_no_canary(str(caught.value))


def test_plaintext_fields_ignore_other_kinds_and_apis() -> None:
    assert plaintext_fields({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}) == []
    assert (
        plaintext_fields({"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": 1}}) == []
    )
    assert plaintext_fields(secret("x", data={"b": "", "a": "x"})) == ["data.a", "data.b"]


def test_plaintext_secret_is_refused_before_policies_could_quote_it(tiny: Path) -> None:
    # A policy message may quote the object; the refusal comes first.
    with_objects(tiny, secret("db", stringData={"password": CANARIES["stringData"]}))
    with pytest.raises(RenderError, match="refusing to commit") as caught:
        render_to_repo(tiny / "blueprints", tiny / "environments", tiny / "repo")
    assert_no_canary(str(caught.value))


def test_render_cli_refusal_is_one_line_without_the_value(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with_objects(tiny, secret("db", data={"password": b64(CANARIES["data"])}))
    caplog.set_level(logging.DEBUG)
    code = main(
        [
            "render",
            "--blueprints",
            str(tiny / "blueprints"),
            "--environments",
            str(tiny / "environments"),
            "--repo",
            str(tmp_path / "repo"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert "refusing to commit Secret values" in err
    assert not (tmp_path / "repo").exists()
    assert_no_canary(out, err, caplog.text)


def test_token_pasted_as_the_secret_name_is_not_echoed() -> None:
    scope = Scope(namespace="apps")
    with pytest.raises(ValidationError, match=r"hf_token_secret\.name must be") as caught:
        InferenceStack(
            scope,
            "llm",
            model="org/model-1B",
            image="registry.example.com/vllm:v1",
            hf_token_secret=CANARIES["token"],
        )
    assert_no_canary(str(caught.value))


def test_token_pasted_as_the_secret_key_is_not_echoed() -> None:
    with pytest.raises(ValidationError, match=r"hf_token_secret\.key must be") as caught:
        InferenceStack(
            Scope(namespace="apps"),
            "llm",
            model="org/model-1B",
            image="registry.example.com/vllm:v1",
            hf_token_secret={"name": "hf", "key": CANARIES["token"] + " x"},
        )
    assert_no_canary(str(caught.value))


# -- redaction corpus: check and diff --------------------------------------------------------


def corpus_desired() -> list[dict[str, Any]]:
    return [
        secret(
            "creds",
            data={"password": b64(CANARIES["data"]), "same": b64(CANARIES["data-same"])},
            stringData={"token": CANARIES["stringData"]},
        ),
        secret("invalid-string", data=CANARIES["invalid-string"]),
        secret("invalid-list", data=[CANARIES["invalid-list"]]),
        secret("not-base64", data={"k": CANARIES["not-base64"]}),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm",
                "namespace": "apps",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                        {"kind": "Secret", "data": {"p": CANARIES["last-applied"]}}
                    )
                },
            },
            "data": {"a": "b"},
        },
    ]


def corpus_live() -> dict[str, Any]:
    last_applied = json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "data": {"password": CANARIES["last-applied"]}}
    )
    creds = secret(
        "creds",
        data={
            "password": b64(CANARIES["live-data"]),
            "same": b64(CANARIES["data-same"]),
            "old": b64(CANARIES["live-only"]),
        },
    )
    creds["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": last_applied
    }
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            creds,
            secret("invalid-string", data={"x": b64(CANARIES["live-data"])}),
            secret("not-base64", data={"k": b64(CANARIES["live-only"])}),
        ],
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    desired = tmp_path / "desired.yaml"
    desired.write_text(yaml.safe_dump_all(corpus_desired(), sort_keys=False))
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump(corpus_live(), sort_keys=False))
    yield desired, live


ECHO_POLICIES = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: echo}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["secrets"]}
  validations:
    - expression: "false"
      messageExpression: "'found ' + object.stringData.token + ' and ' + object.data.password"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: echo}
spec: {policyName: echo, validationActions: [Deny]}
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: echo-kyverno}
spec:
  validationFailureAction: Enforce
  rules:
    - name: token-prefix
      match: {any: [{resources: {kinds: [Secret]}}]}
      validate:
        message: "token {{request.object.stringData.token}} is not allowed"
        pattern: {stringData: {token: "allowed-*"}}
"""


@pytest.mark.parametrize("output", ["text", "json"])
def test_check_never_shows_secret_values_even_when_a_policy_quotes_them(
    tmp_path: Path,
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    manifests = tmp_path / "creds.yaml"
    manifests.write_text(yaml.safe_dump(corpus_desired()[0], sort_keys=False))
    policies = tmp_path / "echo.yaml"
    policies.write_text(ECHO_POLICIES)
    caplog.set_level(logging.DEBUG)
    code = main(
        ["--debug", "check", "-f", str(manifests), "--policies", str(policies), "-o", output]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert "echo" in out and "token-prefix" in out  # the violations are reported, masked
    assert_no_canary(out, err, caplog.text)


def test_policy_evaluation_masks_values_in_violation_messages(tmp_path: Path) -> None:
    policies = list(yaml.safe_load_all(ECHO_POLICIES))
    violations = evaluate([corpus_desired()[0]], policies)
    assert len(violations) == 2
    messages = {v.policy: v.message for v in violations}
    # A messageExpression on a Secret gives way to the static message (issue 12).
    assert messages["echo"] == "failed expression: false"
    assert messages["echo-kyverno"].startswith("token *** is not allowed")
    assert_no_canary(*(str(v) for v in violations))


@pytest.mark.parametrize("output", ["text", "json"])
def test_diff_never_shows_secret_values(
    corpus: tuple[Path, Path],
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    desired, live = corpus
    caplog.set_level(logging.DEBUG)
    code = main(["--debug", "diff", "-f", str(desired), "--live", str(live), "-o", output])
    out, err = capsys.readouterr()
    assert code == 1
    assert "creds" in out and "cm" in out  # the Secrets and the annotated object are shown
    assert_no_canary(out, err, caplog.text)


def test_diff_errors_never_show_secret_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A malformed capture: the Secret has no name; the error must still not quote values.
    bad = secret("x", data={"password": b64(CANARIES["live-data"])})
    del bad["metadata"]["name"]
    live = tmp_path / "live.yaml"
    live.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [bad]}))
    desired = tmp_path / "desired.yaml"
    desired.write_text(yaml.safe_dump(corpus_desired()[0]))
    code = main(["diff", "-f", str(desired), "--live", str(live)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "metadata.name" in err
    assert_no_canary(out, err)


def test_errors_raised_while_rendering_carry_no_values(tiny: Path) -> None:
    # Two plaintext Secrets with one identity: the duplicate error names sources, not data.
    with_objects(
        tiny,
        secret("db", stringData={"a": CANARIES["stringData"]}),
        secret("db", data={"a": b64(CANARIES["data"])}),
    )
    with pytest.raises(GitOpsError) as caught:
        render_environments(tiny / "blueprints", tiny / "environments")
    assert_no_canary(str(caught.value), repr(caught.value))


def test_guardrails_scope_is_irrelevant_to_secret_refusal(tiny: Path) -> None:
    # The refusal does not depend on the environment's guardrail action (Audit here).
    def none(scope: Scope, env: Environment) -> None:
        return None

    with_objects(tiny, secret("db", stringData={"a": CANARIES["stringData"]}))
    with pytest.raises(RenderError, match="refusing to commit"):
        render_environments(tiny / "blueprints", tiny / "environments", guardrails=none)


# -- redaction corpus: plan and apply against the test API server ----------------------------


def _repo_files(manifests: list[dict[str, Any]]) -> dict[str, bytes]:
    files = {}
    for manifest in manifests:
        namespace = manifest["metadata"].get("namespace") or "_cluster"
        name = f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        files[f"envs/dev/workloads/{namespace}/{name}"] = yaml.safe_dump(manifest).encode()
    return files


def _cluster_sets() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    annotated = secret("annotated", data={"k": b64(CANARIES["data-same"])})
    annotated["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
            {"data": {"k": CANARIES["last-applied"]}}
        )
    }
    base = [
        ns,
        secret("creds", data={"password": b64(CANARIES["live-data"])}),
        secret("gone", stringData={"old": CANARIES["live-only"]}),
        annotated,
    ]
    head = [
        ns,
        secret("creds", data={"password": b64(CANARIES["data"])}),
        secret("new", stringData={"token": CANARIES["stringData"]}),
        annotated,
    ]
    return base, head


@pytest.fixture
def cluster_repo(tmp_path: Path) -> Path:
    from gitops.repo import commit_tree

    base, head = _cluster_sets()
    repo = tmp_path / "repo"
    commit_tree(repo, _repo_files(base), branch="main")
    commit_tree(repo, _repo_files(head), branch="pr", base="main")
    return repo


def _apply(repo: Path, kubeconfig: Path, ref: str, *extra: str) -> int:
    args = ["--debug", "apply", "--env", "dev", "--repo", str(repo), "--ref", ref]
    return main([*args, "--kubeconfig", str(kubeconfig), "--context", "test", *extra])


@pytest.mark.parametrize("output", ["text", "json"])
def test_apply_never_shows_secret_values(
    cluster_repo: Path,
    kubeconfig: Path,
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _apply(cluster_repo, kubeconfig, "main", "-o", output) == 0
    assert _apply(cluster_repo, kubeconfig, "pr", "--prune", "-o", output) == 0
    out, err = capsys.readouterr()
    assert "creds" in out and "gone" in out  # updated and pruned Secrets are reported
    assert_no_canary(out, err, caplog.text)


@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_plan_never_shows_secret_values(
    cluster_repo: Path,
    kubeconfig: Path,
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert _apply(cluster_repo, kubeconfig, "main") == 0
    capsys.readouterr()
    caplog.set_level(logging.DEBUG)
    args = ["--debug", "plan", "--env", "dev", "--base", "main", "--head", "pr"]
    cluster = ["--kubeconfig", str(kubeconfig), "--context", "test"]
    code = main([*args, "--repo", str(cluster_repo), *cluster, "-o", output, "--exit-code"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "creds" in out and "new" in out
    assert_no_canary(out, err, caplog.text)


def test_a_webhook_quoting_the_value_in_its_denial_is_masked(
    cluster_repo: Path,
    kubeconfig: Path,
    cluster: ClusterUnderTest,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert _apply(cluster_repo, kubeconfig, "main") == 0
    cluster.deny(
        "update",
        "Secret",
        "apps",
        "creds",
        f"password {CANARIES['data']} ({b64(CANARIES['data'])}) is on the deny list",
    )
    capsys.readouterr()
    caplog.set_level(logging.DEBUG)
    code = _apply(cluster_repo, kubeconfig, "pr")
    out, err = capsys.readouterr()
    assert code == 2
    assert "is on the deny list" in out + err
    assert_no_canary(out, err, caplog.text)
