"""Tests for the CLI shell: version, errors, and a start-up that loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gitops import __version__
from gitops.cli.main import COMMANDS, main


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"gitops {__version__}"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], *[[name, "--help"] for name in COMMANDS]])
def test_start_up_loads_no_node_git_or_kubernetes(argv: list[str]) -> None:
    probe = (
        "import sys\n"
        "from gitops.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('cdk8s', 'jsii', 'kubernetes', 'pygit2', 'jsonpatch')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_check_loads_the_cel_extension_without_its_command_line() -> None:
    # `cel/__init__.py` imports its REPL (typer, prompt_toolkit): 0.2-0.3 s of every
    # check. The guardrails still evaluate (a Deny is found) through the extension alone.
    probe = (
        "import sys\n"
        "from gitops.policy.cel import Activation, compile_expression\n"
        "program = compile_expression('object.spec.replicas > 2', 'probe')\n"
        "print('VALUE', program.run(Activation({'object': {'spec': {'replicas': 3}}})))\n"
        "print('LOADED', sorted(m for m in ('cel', 'cel.cli', 'typer', 'prompt_toolkit')"
        " if m in sys.modules), 'cel.cel' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["VALUE True", "LOADED [] True"]


def test_a_later_import_cel_reuses_the_loaded_extension() -> None:
    probe = (
        "import sys\n"
        "import gitops.policy.cel\n"
        "loaded = sys.modules['cel.cel']\n"
        "import cel\n"
        "print(cel.compile is loaded.compile, cel.Context is loaded.Context)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True"]
