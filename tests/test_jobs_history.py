"""Run history: exclusive run directories, an atomic ``latest``, retention."""
from archiver.jobs.history import JobHistory


def test_runs_never_share_a_directory_and_sort_in_order(tmp_path):
    history = JobHistory(tmp_path / "job")
    made = [history.new_run() for _ in range(12)]  # most in the same second
    assert len(set(made)) == 12
    assert history.runs() == made
    assert history.latest() is None


def test_latest_is_a_relative_symlink_replaced_atomically(tmp_path):
    history = JobHistory(tmp_path / "job")
    first, second = history.new_run(), history.new_run()
    history.set_latest(first)
    assert history.latest() == first.resolve()
    history.set_latest(second)
    assert history.latest_link.is_symlink() and str(history.latest_link.readlink()) == f"runs/{second.name}"
    assert history.latest() == second.resolve()
    assert not list(history.job_dir.glob(".latest.*"))  # no temporary left behind


def test_prune_keeps_newest_and_never_latest_or_current(tmp_path):
    history = JobHistory(tmp_path / "job")
    runs = [history.new_run() for _ in range(6)]
    for run in runs:
        (run / "summary.json").write_text("{}")
    history.set_latest(runs[1])  # an old run is latest (e.g. later ones failed)
    deleted = history.prune(2, current=runs[0])
    assert [p.name for p in deleted] == [runs[2].name, runs[3].name]
    assert history.runs() == [runs[0], runs[1], runs[4], runs[5]]
    assert history.completed() == history.runs()


def test_latest_falls_back_to_a_file_where_symlinks_fail(tmp_path, monkeypatch):
    history = JobHistory(tmp_path / "job")
    first, second = history.new_run(), history.new_run()

    def no_symlinks(*args):
        raise OSError("symlinks not supported")

    monkeypatch.setattr("os.symlink", no_symlinks)
    history.set_latest(first)
    history.set_latest(second)
    assert not history.latest_link.is_symlink()
    assert history.latest_link.read_text().strip() == second.name
    assert history.latest() == second
