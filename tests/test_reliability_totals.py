"""Reliability: totals stay bounded, not only each file.

The total read at a ref or from a ``-f`` directory is capped; FIFOs and devices are refused
without being opened (a FIFO named ``*.yaml`` hung a render forever); an object captured
twice in ``--live`` is an error, not last-wins; comparing finalizers is linear. Hangs and
slow paths are bounded by a subprocess timeout, memory by tracemalloc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from gitops.cli.main import main
from gitops.core.errors import InputError
from gitops.core.yaml_io import MAX_TOTAL_BYTES, read_capped
from gitops.repo import commit_tree, identity
from gitops.workflows.desired import read_live_file, read_path, read_ref

ROOT = Path(__file__).parent.parent
TINY = Path(__file__).parent / "fixtures" / "tiny"
SIG = identity("test <test@example.com>", when=1_700_000_000)


def _cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, so a hang fails the test instead of hanging it."""
    code = "import sys; from gitops.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("where", ["environments/gamma.yaml", "blueprints/extra.py",
                                   "blueprints/extra.yaml"])  # fmt: skip
def test_a_fifo_among_the_render_inputs_is_refused_without_hanging(
    tmp_path: Path, where: str
) -> None:
    shutil.copytree(TINY, tmp_path / "in")
    os.mkfifo(tmp_path / "in" / where)
    result = _cli(
        ["render", "--blueprints", "in/blueprints", "--environments", "in/environments",
         "--repo", "repo"], tmp_path, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert Path(where).name in result.stderr
    assert "expected a regular file" in result.stderr
    assert not (tmp_path / "repo").exists()


def test_a_fifo_given_to_diff_as_live_or_manifests_is_refused_without_hanging(
    tmp_path: Path,
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "ok.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    )
    os.mkfifo(tmp_path / "m" / "pipe.yaml")
    os.mkfifo(tmp_path / "live.yaml")
    live = tmp_path / "captured.yaml"
    live.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    result = _cli(["diff", "-f", "m", "--live", "captured.yaml"], tmp_path, timeout=60)
    assert (
        result.returncode == 2
        and "pipe.yaml: expected a regular file, found a FIFO" in result.stderr
    )
    (tmp_path / "m" / "pipe.yaml").unlink()
    result = _cli(["diff", "-f", "m", "--live", "live.yaml"], tmp_path, timeout=60)
    assert (
        result.returncode == 2
        and "live.yaml: expected a regular file, found a FIFO" in result.stderr
    )


def test_a_device_is_refused_before_it_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a: opened.append(str(p)) or real_open(p, *a))
    with pytest.raises(InputError, match=r"/dev/zero: expected a regular file, found a device"):
        read_capped(Path("/dev/zero"))
    assert opened == []


def test_the_total_read_at_a_ref_is_capped_before_any_blob_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops.repo.read

    cap = 1024 * 1024
    monkeypatch.setattr(gitops.repo.read, "MAX_TOTAL_BYTES", cap)
    files = {
        f"envs/dev/workloads/apps/configmap-{i}.yaml": b"a: " + bytes([97 + i]) * (cap // 3 - 10)
        for i in range(4)  # each well under the per-file cap, 4/3 of the total together
    }
    repo = tmp_path / "repo"
    commit_tree(repo, files, signature=SIG)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=rf"main:envs/dev: files total more than {cap} bytes"):
            read_ref(repo, "main", "dev")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < cap // 4  # no blob was read
    del files["envs/dev/workloads/apps/configmap-3.yaml"]
    commit_tree(tmp_path / "ok", files, signature=SIG)
    with pytest.raises(InputError, match=r"configmap-0\.yaml: key 'apiVersion' missing"):
        read_ref(tmp_path / "ok", "main", "dev")  # under the total: read, then parsed


def test_the_total_read_from_a_manifest_directory_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops.workflows.desired

    monkeypatch.setattr(gitops.workflows.desired, "MAX_TOTAL_BYTES", 3000)
    for i in range(4):
        (tmp_path / f"cm-{i}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{k: {'x' * 900}}}\n"
        )
    with pytest.raises(InputError, match=r"files total more than 3000 bytes .*cm-3\.yaml passes"):
        read_path(tmp_path)
    (tmp_path / "cm-3.yaml").unlink()
    assert [m["metadata"]["name"] for m in read_path(tmp_path)] == ["c0", "c1", "c2"]
    assert MAX_TOTAL_BYTES == 64 * 1024 * 1024


def test_an_object_captured_twice_in_live_is_an_error(tmp_path: Path) -> None:
    live = tmp_path / "live.yaml"
    live.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}, data: {k: '1'}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: x}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}, data: {k: '2'}}\n"
    )
    with pytest.raises(
        InputError,
        match=r"live\.yaml#1 items\[2\]: ConfigMap x/a is captured twice \(first at .*items\[0\]\)",
    ):
        read_live_file(live)
    live.write_text(live.read_text().replace("name: a, namespace: x}, data: {k: '2'}", "name: c}"))
    assert len(read_live_file(live)) == 3


def test_comparing_80k_finalizers_is_linear(tmp_path: Path) -> None:
    """80,000 finalizers took 343 s (quadratic list membership); bounded by a timeout."""
    script = textwrap.dedent(
        """
        from gitops.diff.engine import diff_manifests
        names = [f"example.com/f-{i}" for i in range(80_000)]
        desired = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "a", "namespace": "x", "finalizers": names}}
        live = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "x", "finalizers": names[::-1] + ["extra"]}}
        report = diff_manifests([desired], [live])
        print(report.objects[0].status)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "in-sync"  # a set: order and a foreign extra do not matter


def test_diff_cli_refuses_a_duplicated_live_object_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n"
    )
    item = "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}\n"
    (tmp_path / "live.yaml").write_text("apiVersion: v1\nkind: List\nitems:\n" + item * 2)
    code = main(["diff", "-f", str(tmp_path / "m.yaml"), "--live", str(tmp_path / "live.yaml")])
    assert code == 2
    assert "ConfigMap x/a is captured twice" in capsys.readouterr().err
