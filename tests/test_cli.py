"""Tests for the CLI shell: version, errors, and a start-up that loads no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gitops import __version__
from gitops.cli import COMMANDS, main


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
        "from gitops.cli import main\n"
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
