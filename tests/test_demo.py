"""End to end: ``archiver run manifests/demo.toml`` out of the box, then ``archiver demo``."""
import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from archiver.cli import main
from archiver.demo.sitegen import GONE, generate_pair

ROOT = Path(__file__).resolve().parent.parent


def test_demo_manifest_runs_out_of_the_box_then_demo_scores_it(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "manifests" / "demo.toml"), "--out", str(out)]) == 0
    first_out = capsys.readouterr().out
    first = (out / "demo" / "latest").resolve()
    assert first_out.strip().splitlines()[-1].startswith("archiver demo: ok | ")
    for name in ("redirects.csv", "redirects.json", "redirects.nginx.conf", "redirects.apache.conf", "_redirects",
                 "redirects.cloudflare.csv", "notices.jsonl", "audit/audit.html", "audit/audit.json", "summary.json",
                 "legacy/index.cdxj", "new/crawl.jsonl", "legacy/archive.wacz", "new/archive.wacz"):
        assert (first / name).is_file(), name
    summary = json.loads((first / "summary.json").read_text())
    assert summary["crawl"]["legacy"]["fetched"] > 50 and summary["redirects"]["page"] > 30
    assert summary["audit"]["passed"] and summary["audit"]["completeness"] >= 0.9
    assert summary["crawl"]["legacy"]["wacz"]["pages"] > 30 and summary["crawl"]["new"]["wacz"]["pages"] > 30

    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    second = (out / "demo" / "latest").resolve()
    assert second != first and first.is_dir()
    score = json.loads((second / "demo-score.json").read_text())
    print(f"\ndemo page-level mappings: precision {score['precision']:.3f} recall {score['recall']:.3f}")
    # an independent count: the truth regenerated from the demo's seed, the rows read from redirects.csv
    legacy_base, new_base = re.search(r"demo sites: legacy \S+ (\S+)/  new (\S+)/", text).groups()
    truth = generate_pair(legacy_base, new_base, n_articles=60, seed=1).truth
    with open(second / "redirects.csv", newline="", encoding="utf-8") as fh:
        pages = {r["old_url"]: r["new_url"] for r in csv.DictReader(fh) if r["kind"] == "page"}
    moved = {old: new for old, new in truth.items() if new not in (None, GONE)}
    right = sum(1 for old, new in pages.items() if truth.get(old) == new)
    found = sum(1 for old, new in moved.items() if pages.get(old) == new)
    assert len(pages) > 30 and (right, len(pages), found, len(moved)) == (
        score["correct"], score["page_rows"], score["found"], score["expected_pages"])
    assert right / len(pages) >= 0.95 and found / len(moved) >= 0.9
    assert not any(old in pages for old, new in truth.items() if new is None)  # nothing forced onto a page
    documents = score["documents"]
    print(f"demo document mappings: precision {documents['precision']:.3f} recall {documents['recall']:.3f} "
          f"{documents['methods']}")
    assert documents["expected"] >= 5 and documents["with_a_row"] == documents["expected"] + documents["removed"]
    assert documents["precision"] >= 0.99 and documents["recall"] >= 0.95 and documents["forced_onto_a_document"] == 0
    assert {"digest", "text"} <= set(documents["methods"]) and "document mappings vs truth" in text
    assert json.loads((second / "summary.json").read_text())["redirects"]["document"] == documents["document_rows"]
    assert f"precision {score['precision']:.3f}" in text and "everything is under" in text
    assert str(out / "demo" / "latest") in text
    # the second run is incremental: its packages carry the first run's WARC files holding the originals
    again = json.loads((second / "summary.json").read_text())
    for side in ("legacy", "new"):
        packed = again["crawl"][side]["wacz"]
        assert again["crawl"][side]["revisits"] > 30 and packed["original_files"] >= 1
        assert packed["unresolved_revisits"] == 0 and packed["pages"] == summary["crawl"][side]["wacz"]["pages"]
    validate = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f",
                               str(second / "legacy" / "archive.wacz")], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout
    # `archiver wacz` on a job's crawl finds the earlier runs holding originals by itself
    assert main(["wacz", str(out / "demo" / "latest" / "legacy"), "--out", str(tmp_path / "again.wacz")]) == 0
    assert "from earlier crawls" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "again.wacz") as by_hand, zipfile.ZipFile(second / "legacy" / "archive.wacz") as by_job:
        assert [n for n in by_hand.namelist() if n.startswith("archive/")] == \
            [n for n in by_job.namelist() if n.startswith("archive/")]
