"""Tests for ``gitops init`` (a starter that checks clean) and ``gitops completion``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops.cli.main import main
from gitops.inputs.starter import FILES


def test_the_starter_project_renders_and_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "proj")]) == 0
    assert sorted(FILES) == sorted(
        str(p.relative_to(tmp_path / "proj")) for p in (tmp_path / "proj").rglob("*") if p.is_file()
    )
    monkeypatch.chdir(tmp_path / "proj")
    capsys.readouterr()
    assert main(["check"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["check passed: 0 violation(s) in dev, prod/eu-west-1, prod/us-east-1"]
    assert main(["render"]) == 0
    repo = tmp_path / "proj" / "build" / "gitops-repo"
    assert (repo / "argocd" / "applicationset-prod.yaml").is_file()
    # Two clusters differing in one GPU product: one base, one overlay with one patch.
    overlays = list((repo / "envs" / "prod" / "clusters").iterdir())
    assert len(overlays) == 1
    patches = [p.name for p in overlays[0].rglob("patches/*")]
    assert patches in (["deployment-inference-chat.yaml"], ["statefulset-inference-chat.yaml"])
    capsys.readouterr()
    assert main(["build", "--env", "dev"]) == 0
    kinds = {d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)}
    assert {"StatefulSet", "ConfigMap", "ValidatingAdmissionPolicy"} <= kinds


def test_init_never_overwrites_and_writes_nothing_then(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "dev.yaml").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "would overwrite" in err and "dev.yaml" in err and "nothing written" in err
    assert (tmp_path / "environments" / "dev.yaml").read_text() == "mine\n"
    assert not (tmp_path / "blueprints").exists()


def complete(tmp_path: Path, shell_script: str, words: list[str]) -> list[str]:
    """Run the bash completion function on ``words`` (the last is being completed)."""
    (tmp_path / "complete.bash").write_text(shell_script)
    quoted = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {tmp_path / 'complete.bash'}; COMP_WORDS=({quoted}); "
        f'COMP_CWORD={len(words) - 1}; _gitops; echo "${{COMPREPLY[@]}}"'
    )
    result = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return result.stdout.split()


def test_bash_completion_completes_commands_options_choices_and_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["completion", "bash"]) == 0
    text = capsys.readouterr().out
    assert complete(tmp_path, text, ["gitops", "pl"]) == ["plan"]
    assert complete(tmp_path, text, ["gitops", "plan", "--exit"]) == ["--exit-code"]
    assert complete(tmp_path, text, ["gitops", "plan", "-o", ""]) == ["text", "markdown", "json"]
    assert complete(tmp_path, text, ["gitops", "set", "im"]) == ["image"]
    assert complete(tmp_path, text, ["gitops", "build", "--env", "d"]) == ["dev"]
    (tmp_path / "sub").mkdir()
    assert complete(tmp_path / "sub", text, ["gitops", "build", "--env", "p"]) == ["prod"]


def test_zsh_completion_is_the_bash_function_through_bashcompinit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["completion", "zsh"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    assert text.rstrip().endswith("complete -F _gitops gitops")


def test_no_color_turns_automatic_color_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import io

    from gitops.cli.common import use_color

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    auto = argparse.Namespace(color="auto")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color(auto, Terminal()) is True
    assert use_color(auto, io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(auto, Terminal()) is False
    assert use_color(argparse.Namespace(color="always"), io.StringIO()) is True
    monkeypatch.delenv("NO_COLOR")
    assert use_color(argparse.Namespace(color="never"), Terminal()) is False
