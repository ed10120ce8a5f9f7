"""Reliability: the redaction corpus of the paths issue 12 found leaking.

Canary values hidden where the earlier checks did not look: Secrets wrapped in ``*List``
documents, Secrets whose ``apiVersion`` is spelled ``V1`` or ``/v1``, policy messages
computed from a Secret's values (CEL ``substring``/``upperAscii``, Kyverno JMESPath
``reverse``), values with runs of spaces and newlines, and credentials in URLs. No canary,
nor any transformation of it a message could compute, may reach stdout, stderr, a log
record, an exception or the repository.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from helpers.blueprints import RAW_CONSTRUCT

from gitops.cli.main import main
from gitops.core.errors import PolicyError, RenderError, ValidationError
from gitops.core.redact import is_secret, redact_url, scrub_text, url_credentials
from gitops.policy import WITHHELD, evaluate
from gitops.render.pipeline import render_environments
from gitops.workflows.render import render_to_repo

TINY = Path(__file__).parent / "fixtures" / "tiny"
PASSWORD = "canary-pw-5e1f0d"
SPACED = "canary  two  spaces\nand a second line 77"
TOKEN = "ghp_canaryTOKEN98765"


def transformations(value: str) -> list[str]:
    """A value and what a message could compute from it (the ones the issue names)."""
    forms = [value, value[1:], value.upper(), value[::-1], " ".join(value.split())]
    forms += [line for line in value.splitlines() if len(line) >= 6]
    forms.append(base64.b64encode(value.encode()).decode())
    return forms


def assert_hidden(*texts: str, values: tuple[str, ...] = (PASSWORD, SPACED, TOKEN)) -> None:
    for text in texts:
        leaked = [f for v in values for f in transformations(v) if f in text]
        assert not leaked, f"secret values leaked: {leaked}"


def secret(api_version: str = "v1", kind: str = "Secret", **values: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "db", "namespace": "apps"},
        **(values or {"stringData": {"password": PASSWORD}}),
    }


def deployment(image: str = "registry.example.com/vllm:latest") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def listed(kind: str, *items: dict[str, Any], api_version: str = "v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "items": list(items)}


LIST_BLUEPRINT = (
    RAW_CONSTRUCT
    + """

def blueprint(scope, env):
    Raw(scope, "raw", {obj!r})
"""
)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "in")
    return tmp_path / "in"


def with_object(tiny: Path, obj: dict[str, Any], action: str = "Audit") -> Path:
    (tiny / "blueprints" / "raw.py").write_text(LIST_BLUEPRINT.format(obj=obj))
    env = tiny / "environments" / "alpha.yaml"
    env.write_text(env.read_text().replace("action: Audit", f"action: {action}"))
    return tiny


# -- *List kinds are flattened before the Secret check and the guardrails ---------------------

LISTS = {
    "v1 List": listed("List", secret()),
    "SecretList": listed("SecretList", secret()),
    "a List in a List": listed("List", listed("List", secret())),
    "a ConfigMapList (any XxxList)": listed("ConfigMapList", secret(), api_version="v1"),
    "a List of another group": listed("WidgetList", secret(), api_version="example.com/v1"),
}


@pytest.mark.parametrize("case", sorted(LISTS))
def test_a_plaintext_secret_inside_a_list_is_refused_and_nothing_is_committed(
    tiny: Path, tmp_path: Path, case: str
) -> None:
    repo = tmp_path / "repo"
    first = render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    with_object(tiny, LISTS[case])
    with pytest.raises(RenderError, match=r"refusing to commit Secret values") as caught:
        render_to_repo(tiny / "blueprints", tiny / "environments", repo)
    assert "Secret apps/db" in str(caught.value)
    assert str(pygit2.Repository(str(repo)).references["refs/heads/main"].target) == first.commit
    assert_hidden(str(caught.value))


def test_a_latest_deployment_inside_a_list_is_denied_by_the_guardrails(
    tiny: Path, tmp_path: Path
) -> None:
    with_object(tiny, listed("List", deployment()), action="Deny")
    with pytest.raises(PolicyError, match=r"Deployment apps/web.*disallow-latest-tag"):
        render_to_repo(tiny / "blueprints", tiny / "environments", tmp_path / "repo")
    assert not (tmp_path / "repo" / ".git" / "refs" / "heads" / "main").exists()


def test_list_items_are_committed_one_object_per_file_as_kustomize_builds_them(
    tiny: Path, tmp_path: Path
) -> None:
    pinned = deployment("registry.example.com/vllm:v0.6.4")
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    with_object(tiny, listed("List", pinned, listed("ConfigMapList", config)))
    rendered = render_environments(tiny / "blueprints", tiny / "environments")["alpha"]
    kinds = {(m["kind"], m["metadata"]["name"]) for m in rendered}
    assert ("Deployment", "web") in kinds and ("ConfigMap", "c") in kinds
    assert not any(m["kind"].endswith("List") for m in rendered)
    web = next(m for m in rendered if m["kind"] == "Deployment")
    assert web["metadata"]["annotations"]["gitops.dev/blueprint"] == "raw"


def test_a_list_whose_items_is_not_a_list_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": {"a": 1}}))
    with pytest.raises(Exception, match=r"list.yaml: List: items must be a list of objects"):
        from gitops.workflows.desired import read_path

        read_path(path)


def test_check_of_a_listed_latest_deployment_is_denied(
    tmp_path: Path, project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops.constructs.base import Scope
    from gitops.constructs.guardrails import ClusterGuardrails

    scope = Scope()
    ClusterGuardrails(scope, "guardrails", engine="vap", action="Deny")
    documents = [*scope.synth(), listed("DeploymentList", deployment(), api_version="apps/v1")]
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    assert main(["check", "-f", str(path)]) == 1
    assert "Deployment apps/web: gitops-disallow-latest-tag" in capsys.readouterr().out


# -- whatever the API server takes for a Secret is a Secret -----------------------------------

SPELLINGS = ["v1", "V1", "/v1", " v1", "v2"]


@pytest.mark.parametrize("api_version", SPELLINGS)
def test_core_group_secrets_are_secrets_however_the_version_is_spelled(api_version: str) -> None:
    assert is_secret(secret(api_version))
    assert is_secret(secret(api_version, kind="secret"))


@pytest.mark.parametrize("api_version", ["example.com/v1", "bitnami.com/v1alpha1", "v1/x"])
def test_a_secret_kind_of_another_group_is_not_a_core_secret(api_version: str) -> None:
    assert not is_secret(secret(api_version))


@pytest.mark.parametrize("api_version", SPELLINGS)
def test_a_plaintext_secret_is_refused_however_its_version_is_spelled(
    tiny: Path, api_version: str
) -> None:
    with_object(tiny, secret(api_version))
    with pytest.raises(RenderError, match=r"refusing to commit Secret values") as caught:
        render_environments(tiny / "blueprints", tiny / "environments")
    assert_hidden(str(caught.value))


def _live_secret() -> dict[str, Any]:
    live = secret("v1", data={"password": base64.b64encode(PASSWORD.encode()).decode()})
    live["metadata"]["managedFields"] = [
        {
            "manager": "gitops",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:password": {}, "f:old": {}}},
        }
    ]
    return live


@pytest.mark.parametrize("api_version", ["V1", "/v1"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_diff_of_a_differently_spelled_secret_masks_the_live_value(
    tmp_path: Path,
    api_version: str,
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    desired = secret(api_version, data={"password": base64.b64encode(b"other-value").decode()})
    (tmp_path / "desired.yaml").write_text(yaml.safe_dump(desired))
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(listed("List", _live_secret())))
    caplog.set_level(logging.DEBUG)
    argv = ["--debug", "diff", "-f", str(tmp_path / "desired.yaml")]
    code = main([*argv, "--live", str(tmp_path / "live.yaml"), "-o", output])
    out, err = capsys.readouterr()
    assert code == 1
    assert "changed" in out  # the difference is reported, masked
    assert_hidden(out, err, caplog.text)


# -- a message computed from a Secret's values is never shown ---------------------------------

COMPUTED_POLICIES = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: computed}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["*"], operations: [CREATE], resources: [secrets]}
  validations:
  - expression: "false"
    message: static message one
    messageExpression: "'pw=' + object.stringData.password.substring(1)"
  - expression: "false"
    message: static message two
    messageExpression: "object.stringData.password.upperAscii()"
  - expression: "false"
    messageExpression: "'spaced=' + object.stringData.spaced"
  - expression: "object.stringData.password == 'x' + object.stringData.missing"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: computed}
spec: {policyName: computed, validationActions: [Deny]}
---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: reversed}
spec:
  validationFailureAction: Enforce
  rules:
  - name: reverse
    match: {any: [{resources: {kinds: [Secret]}}]}
    validate:
      message: "reversed {{ reverse(request.object.stringData.password) }}"
      pattern: {stringData: {password: "allowed-*"}}
"""


def _computed_secret(api_version: str = "v1") -> dict[str, Any]:
    return secret(api_version, stringData={"password": PASSWORD, "spaced": SPACED})


def test_vap_messages_computed_from_a_secret_show_the_static_message() -> None:
    violations = evaluate([_computed_secret()], list(yaml.safe_load_all(COMPUTED_POLICIES)))
    by_rule = {(v.policy, v.rule): v.message for v in violations}
    assert by_rule[("computed", "validations[0]")] == "static message one"
    assert by_rule[("computed", "validations[1]")] == "static message two"
    assert by_rule[("reversed", "reverse")].startswith("reversed ")
    assert len(violations) == 5
    assert_hidden(*(str(v) for v in violations))


def test_a_message_that_only_a_value_makes_fail_is_withheld() -> None:
    policy, binding = list(yaml.safe_load_all(COMPUTED_POLICIES))[:2]
    policy["spec"]["validations"] = [
        {
            "expression": "object.stringData.password != '" + PASSWORD + "'",
            "messageExpression": "'value ' + object.stringData.password",
        }
    ]
    (violation,) = evaluate([_computed_secret()], [policy, binding])
    assert violation.message == WITHHELD


@pytest.mark.parametrize("api_version", ["v1", "V1", "/v1"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_check_never_shows_a_message_computed_from_a_secret(
    tmp_path: Path,
    api_version: str,
    output: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(listed("List", _computed_secret(api_version))))
    (tmp_path / "p.yaml").write_text(COMPUTED_POLICIES)
    caplog.set_level(logging.DEBUG)
    # --report also prints every Kyverno rule result, passes and failures, with its message.
    argv = ["--debug", "check", "--report", "-f", str(tmp_path / "s.yaml"), "--policies"]
    code = main([*argv, str(tmp_path / "p.yaml"), "-o", output])
    out, err = capsys.readouterr()
    assert code == 1
    assert "static message one" in out and "reversed" in out
    assert_hidden(out, err, caplog.text)


def test_error_text_quoting_a_spaced_value_is_masked_in_every_spelling() -> None:
    quoted = " ".join(SPACED.split())
    escaped = json.dumps(SPACED)[1:-1]
    text = f"a: {SPACED} b: {quoted} c: {escaped} d: second line"
    scrubbed = scrub_text(text, secret(stringData={"v": SPACED}))
    assert_hidden(scrubbed)


# -- credentials in URLs are never printed and never committed --------------------------------

CREDENTIAL_URLS = [
    f"https://oauth2:{TOKEN}@git.example.com/platform/gitops.git",
    f"https://{TOKEN}@github.com/org/repo.git",
    f"http://user:{TOKEN}@git.example.com/repo.git",
    f"ssh://git:{TOKEN}@git.example.com/repo.git",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_url_credentials_are_found_and_masked(url: str) -> None:
    assert url_credentials(url)
    assert_hidden(redact_url(url))
    assert redact_url(url).endswith(url.rpartition("@")[2])


@pytest.mark.parametrize(
    "url", ["https://git.example.com/repo.git", "ssh://git@host/repo.git", "git@host:org/r"]
)
def test_urls_without_credentials_are_left_alone(url: str) -> None:
    assert not url_credentials(url)
    assert redact_url(url) == url


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
@pytest.mark.parametrize("field", ["repo_url", "cluster.server"])
def test_an_environment_with_credentials_in_a_url_is_refused_without_printing_them(
    tiny: Path, tmp_path: Path, url: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tiny / "environments" / "alpha.yaml"
    text = env.read_text()
    if field == "repo_url":
        text += f"repo_url: {url}\n"
    else:
        text = text.replace("https://alpha.example.com:6443", url)
    env.write_text(text)
    repo = tmp_path / "repo"
    argv = ["render", "--blueprints", tiny / "blueprints", "--environments", tiny / "environments"]
    assert main([str(a) for a in [*argv, "--repo", repo]]) == 2
    out, err = capsys.readouterr()
    assert f"{field} must not carry credentials" in err
    assert not repo.exists()
    assert_hidden(out, err)
    with pytest.raises(ValidationError):
        render_environments(tiny / "blueprints", tiny / "environments")


def test_push_with_a_token_in_the_url_never_prints_it(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://oauth2:{TOKEN}@127.0.0.1:9/platform/gitops.git"  # nothing listens on 9
    argv = ["render", "--blueprints", tiny / "blueprints", "--environments", tiny / "environments"]
    code = main([str(a) for a in [*argv, "--repo", tmp_path / "repo", "--push", url]])
    out, err = capsys.readouterr()
    assert code == 2
    assert "push main to http://***@127.0.0.1:9/platform/gitops.git" in err
    assert_hidden(out, err)
    config = (tmp_path / "repo" / ".git" / "config").read_text()
    assert TOKEN not in config


@pytest.mark.parametrize("api_version", ["V1", "/v1"])
@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_plan_of_a_differently_spelled_secret_masks_every_value(
    tmp_path: Path,
    api_version: str,
    output: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gitops.core.yaml_io import dump_yaml
    from gitops.repo import commit_tree

    monkeypatch.chdir(tmp_path)
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    base = secret(api_version, data={"password": encoded})
    head = secret(api_version, data={"password": base64.b64encode(SPACED.encode()).decode()})
    path = "envs/dev/workloads/apps/secret-db.yaml"
    repo = tmp_path / "repo"
    commit_tree(repo, {path: dump_yaml([base]).encode()}, branch="main", message="base")
    commit_tree(repo, {path: dump_yaml([head]).encode()}, branch="pr", base="main", message="pr")
    (tmp_path / "live.yaml").write_text(yaml.safe_dump(listed("List", _live_secret())))
    caplog.set_level(logging.DEBUG)
    argv = ["--debug", "plan", "--env", "dev", "--base", "main", "--head", "pr"]
    argv += ["--repo", str(repo), "--live", str(tmp_path / "live.yaml"), "-o", output]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "Secret apps/db" in out or '"name": "db"' in out
    assert_hidden(out, err, caplog.text)
