"""``archiver diff``: URLs new, changed and gone; redirect rows added, removed, changed."""
import csv
import json

from archiver.cli import main
from archiver.jobs.diff import diff_runs
from archiver.jobs.history import JobHistory


def fake_run(run_dir, pages, redirects):
    """A run directory with a legacy crawl (crawl.jsonl + index.cdxj) and redirects.csv."""
    crawl = run_dir / "legacy"
    crawl.mkdir(parents=True)
    with open(crawl / "crawl.jsonl", "w") as log, open(crawl / "index.cdxj", "w") as index:
        for offset, (url, (status, digest, record_type)) in enumerate(pages.items()):
            log.write(json.dumps({"url": url, "status": status, "record_type": record_type, "state": "done",
                                  "warc_file": "warc/a.warc.gz", "warc_offset": offset * 100}) + "\n")
            index.write(f"x 2026 {json.dumps({'url': url, 'digest': digest, 'filename': 'a.warc.gz', 'offset': str(offset * 100)})}\n")
        log.write(json.dumps({"url": "http://old/failed", "status": None, "state": "failed"}) + "\n")
    with open(run_dir / "redirects.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["old_url", "new_url", "status", "kind", "method", "confidence"])
        writer.writerows(redirects)
    (run_dir / "summary.json").write_text("{}")


def make_job(tmp_path):
    history = JobHistory(tmp_path / "job")
    first, second = history.new_run(), history.new_run()
    fake_run(first, {
        "http://old/same": (200, "sha1:AAA", "response"),
        "http://old/edited": (200, "sha1:BBB", "response"),
        "http://old/removed": (200, "sha1:CCC", "response"),
        "http://old/now404": (200, "sha1:DDD", "response"),
        "http://old/moved": (200, "sha1:EEE", "response"),
    }, [["http://old/a", "http://new/a", "301", "page", "content", "0.9"],
        ["http://old/b", "http://new/b", "301", "page", "content", "0.9"],
        ["http://old/c", "", "", "unmatched", "none", "0"]])
    fake_run(second, {
        "http://old/same": (304, "sha1:AAA", "revisit"),
        "http://old/edited": (200, "sha1:XXX", "response"),
        "http://old/now404": (404, "sha1:YYY", "response"),
        "http://old/moved": (301, "sha1:ZZZ", "response"),
        "http://old/added": (200, "sha1:NEW", "response"),
    }, [["http://old/a", "http://new/a", "301", "page", "content", "0.9"],
        ["http://old/c", "http://new/c", "301", "page", "content", "0.8"],
        ["http://old/d", "", "410", "gone", "gone", "1"]])
    history.set_latest(second)
    return history, first, second


def test_diff_runs(tmp_path):
    _, first, second = make_job(tmp_path)
    diff = diff_runs(first, second)
    legacy = diff["legacy"]
    assert legacy["new"] == ["http://old/added"]
    assert legacy["gone"] == ["http://old/now404", "http://old/removed"]
    assert legacy["changed"] == [
        {"url": "http://old/edited", "reason": "payload digest differs"},
        {"url": "http://old/moved", "reason": "status 200 -> 301"},
    ]
    assert diff["new"] == {"new": [], "changed": [], "gone": []}
    redirects = diff["redirects"]
    assert [r["old_url"] for r in redirects["added"]] == ["http://old/d"]
    assert redirects["removed"] == ["http://old/b"]
    assert redirects["changed"] == [{"old_url": "http://old/c", "new_url": ["", "http://new/c"], "status": ["", "301"],
                                     "kind": ["unmatched", "page"]}]


def test_first_run_diff_lists_everything_new(tmp_path):
    _, first, _ = make_job(tmp_path)
    diff = diff_runs(None, first)
    assert len(diff["legacy"]["new"]) == 5 and diff["legacy"]["gone"] == [] and len(diff["redirects"]["added"]) == 3


def test_diff_command_on_job_dir_and_two_runs(tmp_path, capsys):
    history, first, second = make_job(tmp_path)
    assert main(["diff", str(history.job_dir)]) == 0
    out = capsys.readouterr().out
    assert f"from run {first.name} to run {second.name}" in out
    assert "http://old/edited  (payload digest differs)" in out and "gone URLs: 2" in out
    assert "http://old/c: new_url - -> http://new/c" in out
    assert main(["diff", str(second), str(first), "--json"]) == 0
    reverse = json.loads(capsys.readouterr().out)
    assert reverse["legacy"]["new"] == ["http://old/now404", "http://old/removed"]
    assert main(["diff", str(tmp_path / "nope")]) == 2
