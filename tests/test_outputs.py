"""Output locations are checked before any work: one line and exit 2, never a traceback.

Tests run as root, whom file permissions do not stop, so the read-only
directory cases run the real command as the unprivileged ``nobody`` user
(``setpriv``) on inputs made readable to it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from archiver.cli import main

from warcs import response, write_warc

ARCHIVER = str(Path(sys.executable).parent / "archiver")


@pytest.fixture
def world_readable():
    """A directory every user may read but only root may write, holding a small WARC."""
    path = Path(tempfile.mkdtemp(prefix="archiver-outputs-"))
    path.chmod(0o755)
    write_warc(path / "site.warc.gz", [response("http://old.example/a", b"<html><title>A</title>a</html>"),
                                       response("http://new.example/a", b"<html><title>A</title>a</html>")])
    (path / "site.warc.gz").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to run a command as an unprivileged user")
    return subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", ARCHIVER, *args],
                          capture_output=True, text=True, timeout=120, cwd="/")


@pytest.mark.parametrize("command", [
    ["audit", "{warc}", "--out", "{dir}/audit"],
    ["detect", "{warc}", "--out", "{dir}/notices.jsonl"],
    ["map", "--old", "{warc}", "--new", "{warc}", "--out", "{dir}/map"],
])
def test_unwritable_output_directory_is_one_line_and_exit_2(world_readable, command):
    args = [a.format(warc=world_readable / "site.warc.gz", dir=world_readable) for a in command]
    result = as_nobody(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Permission denied" in result.stderr
    assert "Traceback" not in result.stderr and str(world_readable) in result.stderr


@pytest.mark.parametrize("command", [
    ["audit", "{warc}", "--out", "/sys/archiver-test/audit"],
    ["detect", "{warc}", "--out", "/sys/archiver-test/notices.jsonl"],
    ["map", "--old", "{warc}", "--new", "{warc}", "--out", "/sys/archiver-test/map"],
    ["audit", "{warc}", "--out", "{warc}"],  # a file, not a directory
    ["detect", "{warc}", "--out", "{dir}"],  # a directory, not a file
])
def test_impossible_outputs_are_refused_before_any_work(tmp_path, capsys, command):
    warc = tmp_path / "site.warc.gz"
    write_warc(warc, [response("http://old.example/a", b"<html>a</html>")])
    args = [a.format(warc=warc, dir=tmp_path) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archiver {command[0]}: ") and err.count("\n") == 1


def test_run_refuses_a_json_summary_directory_and_a_real_latest_directory_before_crawling(tmp_path, capsys):
    manifest = tmp_path / "job.toml"
    # unreachable seeds: had the run started, it would fail differently (and much later)
    manifest.write_text('name = "job"\n[legacy]\nseeds = ["http://127.0.0.1:9/"]\n[new]\nseeds = ["http://127.0.0.1:9/"]\n')
    out = tmp_path / "out"
    assert main(["run", str(manifest), "--out", str(out), "--json-summary", str(tmp_path)]) == 2
    assert "--json-summary file" in capsys.readouterr().err and not (out / "job" / "runs").exists()
    (out / "job" / "latest").mkdir(parents=True)
    assert main(["run", str(manifest), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "latest is a real directory" in err and err.count("\n") == 1 and not (out / "job" / "runs").exists()
    assert main(["run", str(manifest), "--out", "/sys/archiver-test"]) == 2
    assert "Operation not permitted" in capsys.readouterr().err
