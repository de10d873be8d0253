"""``archiver map`` on small hand-written WARCs: what it prints is what it exported, and bad input is exit 2."""
from __future__ import annotations

import csv
import json

import pytest

from archiver.cli import main

from warcs import response, write_warc

OLD, NEW = "http://old.example", "http://new.example"
TEXT = ("Interior Minister Poklukar attended an informal meeting of the Justice and Home Affairs Council in "
        "Bucharest, where ministers discussed migration and asylum policy and the fight against terrorism.")
OTHER = ("The police presented the annual report on road safety: fewer people died on the roads than a year "
         "before, while speeding and drink-driving remain the most frequent causes of serious accidents.")


def page(title: str, text: str) -> bytes:
    return (f"<html lang='en'><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>"
            "</body></html>").encode()


@pytest.fixture
def archives(tmp_path):
    """A legacy site of two pages (one redirecting, one matched by content, one gone, one in a section
    whose rule target answers 404) and the new site."""
    old, new = tmp_path / "old.warc.gz", tmp_path / "new.warc.gz"
    write_warc(old, [
        response(f"{OLD}/a", page("Ministers meet in Bucharest", TEXT)),
        response(f"{OLD}/b", b"", 301, {"Location": f"{NEW}/road-safety"}),
        response(f"{OLD}/gone", b"gone", 410),
        response(f"{OLD}/section/x", page("An old section page", "Nothing like it exists on the new site, at all.")),
    ])
    write_warc(new, [
        response(f"{NEW}/ministers-bucharest", page("Ministers meet in Bucharest", TEXT)),
        response(f"{NEW}/road-safety", page("Road safety report", OTHER)),
        response(f"{NEW}/sections/", b"not found", 404),
    ])
    return old, new


def csv_rows(out) -> list[dict]:
    with open(out / "redirects.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_printed_counts_are_the_exported_rows_and_unverified_rules_are_not_deployed(archives, tmp_path, capsys):
    old, new = archives
    out = tmp_path / "out"
    assert main(["map", "--old", str(old), "--new", str(new), "--out", str(out),
                 "--rule", rf"^/section/={NEW}/sections/"]) == 0
    printed = capsys.readouterr().out
    rows = {r["old_url"]: r for r in csv_rows(out)}
    assert {u: (r["kind"], r["new_url"]) for u, r in rows.items()} == {
        f"{OLD}/a": ("page", f"{NEW}/ministers-bucharest"), f"{OLD}/b": ("page", f"{NEW}/road-safety"),
        f"{OLD}/gone": ("gone", ""),
        # the rule's target answers 404: kept as the reviewer's suggestion, never a live redirect
        f"{OLD}/section/x": ("unmatched", f"{NEW}/sections/")}
    assert rows[f"{OLD}/section/x"]["status"] == "" and rows[f"{OLD}/section/x"]["review"] == "yes"
    assert "unverified: answers 404" in rows[f"{OLD}/section/x"]["evidence"]
    assert "4 legacy URLs; exported: page 2, document 0, fallback 0, gone 1, unmatched 1; 1 flagged for review\n" in printed
    summary = json.loads((out / "map-summary.json").read_text())
    assert summary["kinds"] == {"page": 2, "document": 0, "fallback": 0, "gone": 1, "unmatched": 1} and summary["refused"] == {}
    for name in ("redirects.nginx.conf", "redirects.apache.map.txt", "_redirects"):
        assert "/sections/" not in (out / name).read_text(), name
    # no row was a redirect Cloudflare could not express, so its list is not empty and nothing is said
    assert "holds no redirects" not in printed
    assert (out / "redirects.cloudflare.csv").read_text().count("\n") == 2


def test_every_row_refused_by_the_allowed_hosts_is_exit_2_not_a_count(archives, tmp_path, capsys):
    old, new = archives
    out = tmp_path / "out"
    assert main(["map", "--old", str(old), "--new", str(new), "--out", str(out), "--allowed-host", "evil.example"]) == 2
    captured = capsys.readouterr()
    assert "page 2" not in captured.out and captured.err.count("\n") == 1
    assert "include none of the hosts the new site's capture has pages on (new.example)" in captured.err
    assert "evil.example" in captured.err and not (out / "redirects.csv").exists()


def test_rows_all_refused_at_export_are_exit_2_with_the_refusals_kept(tmp_path):
    from archiver.errors import UsageError
    from archiver.export import export_all
    from archiver.types import RedirectRow

    rows = [RedirectRow(f"{OLD}/a", "https://evil.example/a", 301, "page", "content", 0.9, "", False),
            RedirectRow(f"{OLD}/b", None, 410, "gone", "gone", 1.0, "", False)]
    with pytest.raises(UsageError, match="no redirect can be exported.*all 1 redirect rows"):
        export_all(rows, tmp_path, allowed_hosts=["new.example"])
    rejected = json.loads((tmp_path / "redirects.rejected.json").read_text())["rejected"]
    assert [(r["old_url"], r["cause"], r["refused_target"]) for r in rejected] == [
        (f"{OLD}/a", "target_host_not_allowed", "hxxps[:]//evil[.]example/a")]


def test_refusals_are_counted_by_cause_on_the_console(tmp_path, capsys):
    old, new = tmp_path / "old.warc.gz", tmp_path / "new.warc.gz"
    # /b matches a page on another port of the new host by content: mapping proposes it, the export refuses it
    write_warc(old, [response(f"{OLD}/a", b"", 301, {"Location": f"{NEW}/a"}),
                     response(f"{OLD}/b", page("B", OTHER))])
    write_warc(new, [response(f"{NEW}/a", page("A", TEXT)), response(f"{NEW}:8080/b", page("B", OTHER))])
    out = tmp_path / "out"
    assert main(["map", "--old", str(old), "--new", str(new), "--out", str(out), "--allowed-host", "new.example",
                 "--format", "csv", "--format", "nginx"]) == 0
    printed = capsys.readouterr().out
    assert "exported: page 1," in printed and "1 refused (1 target host not allowed)" in printed
    assert json.loads((out / "map-summary.json").read_text())["refused"] == {"target_host_not_allowed": 1}
    assert [r["old_url"] for r in csv_rows(out)] == [f"{OLD}/a"]


def test_a_format_left_empty_says_why(tmp_path, capsys):
    old, new = tmp_path / "old.warc.gz", tmp_path / "new.warc.gz"
    write_warc(old, [response(f"{OLD}:8001/a?id=1", b"", 301, {"Location": f"{NEW}/a"})])
    write_warc(new, [response(f"{NEW}/a", page("A", TEXT))])
    assert main(["map", "--old", str(old), "--new", str(new), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert ("warning: redirects.cloudflare.csv holds no redirects: all 1 rows were skipped "
            "(1 x Bulk Redirects source URLs cannot hold a query string)") in printed


@pytest.mark.parametrize("which", ["old", "new"])
@pytest.mark.parametrize("bad", ["empty directory", "text file", "empty warc"])
def test_inputs_without_captures_are_exit_2_before_any_work(archives, tmp_path, capsys, which, bad):
    old, new = archives
    if bad == "empty directory":
        path = tmp_path / "empty"
        path.mkdir()
    elif bad == "text file":
        path = tmp_path / "notes.txt"
        path.write_text("hello, this is not an archive\n")
    else:
        path = tmp_path / "empty.warc.gz"
        write_warc(path, [])
    args = {"old": str(old), "new": str(new), which: str(path)}
    out = tmp_path / "out"
    assert main(["map", "--old", args["old"], "--new", args["new"], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    # one line naming the input: the reader's own refusal of a non-archive, or map's check of its inputs
    assert err.startswith("archiver map: ") and err.count("\n") == 1
    assert err.startswith(f"archiver map: --{which}: ") or f"archiver map: {path} is not a WARC" in err
    assert not (out / "notices.jsonl").exists()


def test_a_bad_format_is_refused_before_any_work(archives, tmp_path, capsys):
    old, new = archives
    with pytest.raises(SystemExit) as exit_status:
        main(["map", "--old", str(old), "--new", str(new), "--out", str(tmp_path / "out"), "--format", "iis"])
    assert exit_status.value.code == 2
    assert "invalid choice: 'iis'" in capsys.readouterr().err and not (tmp_path / "out").exists()
