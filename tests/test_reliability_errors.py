"""Reliability: every failure is exit 2 with one line, and blueprint data is never mutated.

Exit 1 means "denied" to ``check`` and "differences" to ``diff`` and ``plan``, so a crash
must never exit 1; a traceback only with ``--debug`` (still exit 2). Each case is one the
issue found printing a traceback.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.cli.main import main
from gitops.constructs.base import Construct, Scope
from gitops.core.errors import RenderError

TINY = Path(__file__).parent / "fixtures" / "tiny"

_CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n"


def _blueprint(tmp_path: Path, body: str) -> list[str]:
    """A render of the tiny environments with one blueprint whose body is given."""
    shutil.copytree(TINY / "environments", tmp_path / "environments")
    (tmp_path / "blueprints").mkdir()
    source = textwrap.dedent(
        """
        from gitops.constructs.base import Construct

        class Odd(Construct):
            type_name = "Odd"

            def __init__(self, scope, id):
                super().__init__(scope, id)
                self._register()

            def _build(self):
        """
    ) + textwrap.indent(textwrap.dedent(body), " " * 8)
    source += "\n\ndef blueprint(scope, env):\n    Odd(scope, 'odd')\n"
    (tmp_path / "blueprints" / "odd.py").write_text(source)
    return [
        "render",
        "--blueprints", str(tmp_path / "blueprints"),
        "--environments", str(tmp_path / "environments"),
        "--repo", str(tmp_path / "repo"),
    ]  # fmt: skip


def _exiting_blueprint(tmp_path: Path, at_import: bool = False) -> list[str]:
    argv = _blueprint(tmp_path, "return []")
    exit_at = "import sys\nsys.exit(0)\n" if at_import else ""
    (tmp_path / "blueprints" / "odd.py").write_text(
        f"{exit_at}import sys\n\ndef blueprint(scope, env):\n    sys.exit(0)\n"
    )
    return argv


def _policies(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "m.yaml").write_text(_CONFIGMAP)
    (tmp_path / "p.yaml").write_text(text)
    return ["check", "-f", str(tmp_path / "m.yaml"), "--policies", str(tmp_path / "p.yaml")]


def _live(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "m.yaml").write_text(_CONFIGMAP)
    (tmp_path / "live.yaml").write_text(text)
    return ["diff", "-f", str(tmp_path / "m.yaml"), "--live", str(tmp_path / "live.yaml")]


_VAP = "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n"
_KYVERNO = "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\n"

CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "_build raises": (
        lambda p: _blueprint(p, "raise KeyError('hunter2')"),
        r"Odd 'odd': building its objects raised KeyError",
    ),
    "metadata None": (
        lambda p: _blueprint(
            p, "return [{'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': None}]"
        ),
        r"Odd 'odd': ConfigMap \(no name\): metadata must be a mapping, got NoneType",
    ),
    "list-valued annotations": (
        lambda p: _blueprint(
            p,
            "return [{'apiVersion': 'v1', 'kind': 'ConfigMap',"
            " 'metadata': {'name': 'x', 'annotations': {'a': ['b']}}}]",
        ),
        r"metadata.annotations\['a'\] must be a string, got list",
    ),
    "_build returns a dict": (
        lambda p: _blueprint(p, "return {'kind': 'ConfigMap'}"),
        r"_build must return a list of manifests, got dict",
    ),
    "blueprint calls sys.exit(0)": (
        lambda p: _blueprint(p, "import sys\nsys.exit(0)"),
        r"Odd 'odd': building its objects raised SystemExit",
    ),
    "blueprint function calls sys.exit(0)": (
        _exiting_blueprint,
        r"odd\.py: blueprint called sys\.exit\(0\) for environment alpha",
    ),
    "blueprint module calls sys.exit(0)": (
        lambda p: _exiting_blueprint(p, at_import=True),
        r"odd\.py: loading the blueprint called sys\.exit\(0\)",
    ),
    "labels: oops in --live": (
        lambda p: _live(
            p,
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
            "  metadata: {name: a, namespace: default, labels: oops}\n",
        ),
        r"live\.yaml#1 items\[0\]: ConfigMap default/a: metadata\.labels must be a mapping",
    ),
    "VAP spec: [1]": (
        lambda p: _policies(p, _VAP + "metadata: {name: p}\nspec: [1]\n"),
        r"ValidatingAdmissionPolicy 'p': spec must be a mapping, got list",
    ),
    "VAP validations: ['true']": (
        lambda p: _policies(p, _VAP + "metadata: {name: p}\nspec: {validations: ['true']}\n"),
        r"ValidatingAdmissionPolicy 'p': spec\.validations\[0\] must be a mapping, got str",
    ),
    "ClusterPolicy spec: [1]": (
        lambda p: _policies(p, _KYVERNO + "metadata: {name: k}\nspec: [1]\n"),
        r"ClusterPolicy 'k': spec must be a mapping, got list",
    ),
    "ClusterPolicy rules: {}": (
        lambda p: _policies(p, _KYVERNO + "metadata: {name: k}\nspec: {rules: {a: 1}}\n"),
        r"ClusterPolicy 'k': spec\.rules must be a list, got dict",
    ),
}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "--debug"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_failure_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, debug: bool
) -> None:
    build, expected = CASES[case]
    argv = build(tmp_path)
    code = main(["--debug", *argv] if debug else argv)
    err = capsys.readouterr().err
    assert code == 2
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"gitops {argv[0]}: error: ")
    assert re.search(expected, last), last
    if debug:
        assert "Traceback (most recent call last)" in err
    else:
        assert "Traceback" not in err
        assert "hunter2" not in err  # an exception's text may quote any value
        assert [line for line in err.splitlines() if "error" in line] == [last]
    assert not (tmp_path / "repo").exists()  # a failed first render creates nothing


def test_an_unforeseen_exception_is_exit_2_naming_its_type_and_place_not_its_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops.cli.check as check

    def boom(args: object) -> int:
        raise ValueError("token hunter2")

    monkeypatch.setattr(check, "run", boom)
    code = main(["check", "-f", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        "gitops check: error: unexpected ValueError at test_reliability_errors.py:"
        f"{boom.__code__.co_firstlineno + 1} (--debug shows the traceback)\n"
    )


@pytest.mark.parametrize("epoch", ["99999999999999999999", "4294967296", "-5", "1e9"])
def test_source_date_epoch_out_of_range_is_exit_2_before_the_repository_is_created(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    epoch: str,
) -> None:
    shutil.copytree(TINY, tmp_path / "in")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    argv = ["render", "--blueprints", str(tmp_path / "in" / "blueprints"),
            "--environments", str(tmp_path / "in" / "environments"),
            "--repo", str(tmp_path / "repo")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: SOURCE_DATE_EPOCH: expected an integer from 0 to 4294967295" in err
    assert not (tmp_path / "repo").exists()


def test_the_latest_allowed_source_date_epoch_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pygit2

    shutil.copytree(TINY, tmp_path / "in")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "4294967295")
    argv = ["render", "--blueprints", str(tmp_path / "in" / "blueprints"),
            "--environments", str(tmp_path / "in" / "environments"),
            "--repo", str(tmp_path / "repo")]  # fmt: skip
    assert main(argv) == 0
    head = pygit2.Repository(str(tmp_path / "repo")).head.peel(pygit2.Commit)
    assert head.commit_time == 4294967295


# -- what a blueprint returned is never mutated ------------------------------------------------

SHARED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "shared", "labels": {"app": "x"}, "annotations": {"team": "a"}},
    "data": {"k": "v"},
}


class _Shared(Construct):
    """Returns shallow copies of one module-level dict, as the issue's blueprint did."""

    type_name = "Shared"

    def __init__(self, scope: Scope, id: str) -> None:
        super().__init__(scope, id)
        self._register()

    def _build(self) -> list[dict[str, object]]:
        return [dict(SHARED), SHARED]


def test_stamping_never_mutates_what_a_construct_returned() -> None:
    import copy

    before = copy.deepcopy(SHARED)
    rendered = {}
    for env in ("dev", "prod"):
        scope = Scope(namespace=env, blueprint="b", environment=env)
        _Shared(scope, "s")
        with pytest.raises(RenderError, match="duplicate object ConfigMap shared"):
            scope.synth()  # both copies name one object: refused, nothing stamped back
        scope = Scope(namespace=env, blueprint="b", environment=env)
        one = _Shared(scope, "s")
        one._build = lambda: [dict(SHARED)]  # type: ignore[method-assign]  # one object
        rendered[env] = scope.synth()
    assert before == SHARED
    for env, objects in rendered.items():
        (obj,) = objects
        assert obj["metadata"]["annotations"]["gitops.dev/environment"] == env
        assert obj["metadata"]["labels"] is not SHARED["metadata"]["labels"]  # type: ignore[index]
