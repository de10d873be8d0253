"""Job locking: one run at a time, a killed run's lock is taken over."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from archiver.cli import main
from archiver.errors import LockHeldError
from archiver.jobs.lock import JobLock

HOLD = textwrap.dedent("""
    import os, sys, time
    from archiver.jobs.lock import JobLock
    lock = JobLock(sys.argv[1]).acquire()
    if sys.argv[2] == "fork":          # leave the flock with a child, then die
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        os._exit(0)
    print(os.getpid(), flush=True)
    time.sleep(60)
""")


def hold_lock(path, mode="hold"):
    """Start a process that holds the lock; return (process, pid of the holder)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    return proc, pid


def test_second_holder_is_refused_with_who_holds_it(tmp_path):
    path = tmp_path / "job" / ".lock"
    proc, pid = hold_lock(path)
    try:
        with pytest.raises(LockHeldError) as err:
            JobLock(path).acquire()
        assert f"pid {pid}" in str(err.value) and "in progress" in str(err.value)
    finally:
        proc.kill()
        proc.wait()


def test_run_exits_4_while_locked(tmp_path, capsys):
    manifest = tmp_path / "job.toml"
    manifest.write_text('name = "j"\n[legacy]\nseeds = ["http://127.0.0.1:9/"]\n[new]\nseeds = ["http://127.0.0.1:9/"]\n')
    proc, pid = hold_lock(tmp_path / "out" / "j" / ".lock")
    try:
        assert main(["run", str(manifest), "--out", str(tmp_path / "out")]) == 4
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "another run of this job is in progress" in err and str(pid) in err
        assert not (tmp_path / "out" / "j" / "runs").exists()  # nothing started
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    path = tmp_path / ".lock"
    proc, pid = hold_lock(path)
    os.kill(pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(path.read_text())["pid"] == pid  # the dead run's record is still there
    with JobLock(path) as lock:
        assert lock.stale_holder["pid"] == pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert path.read_text() == ""  # released cleanly
    with JobLock(path) as lock:
        assert lock.stale_holder is None


def test_lock_left_with_a_child_of_a_dead_run_is_replaced(tmp_path):
    path = tmp_path / ".lock"
    proc, child = hold_lock(path, "fork")
    proc.wait()  # the recorded holder is dead, its child still has the flock
    try:
        with JobLock(path) as lock:
            assert json.loads(path.read_text())["pid"] == os.getpid()
            assert lock.stale_holder is None
    finally:
        os.kill(child, signal.SIGKILL)


def test_unreachable_seeds_fail_the_run_and_release_the_lock(tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    manifest = tmp_path / "job.toml"
    manifest.write_text(f'name = "j"\n[legacy]\nseeds = ["{dead}"]\n[new]\nseeds = ["{dead}"]\n'
                        '[crawl]\nmax_retries = 0\ntimeout = 2\n')
    assert main(["run", str(manifest), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "legacy site: nothing could be fetched" in err
    run_dir = next((tmp_path / "out" / "j" / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["exit_code"] == 2
    assert not (tmp_path / "out" / "j" / "latest").exists()
    with JobLock(tmp_path / "out" / "j" / ".lock") as lock:
        assert lock.stale_holder is None  # released cleanly
