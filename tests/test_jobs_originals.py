"""Finding the earlier WARC files that hold the originals of a run's revisits."""
import json

from warcio.warcwriter import WARCWriter

from archiver.jobs.history import JobHistory
from archiver.jobs.originals import original_files, revisit_refs
from archiver.jobs.run import holders_of_originals


def crawl(run_dir, records):
    """A crawl dir 'legacy': full records in index.cdxj, revisits as real WARC records in crawl.jsonl."""
    crawl_dir = run_dir / "legacy"
    (crawl_dir / "warc").mkdir(parents=True)
    index, log = [], []
    with open(crawl_dir / "warc" / "r.warc.gz", "wb") as warc:
        writer = WARCWriter(warc, gzip=True)
        for url, digest, is_revisit, name in records:
            if is_revisit:
                offset = warc.tell()
                writer.write_record(writer.create_revisit_record(url, digest, url, "2026-01-01T00:00:00Z"))
                log.append({"url": url, "record_type": "revisit", "warc_file": "r.warc.gz", "warc_offset": offset})
            else:
                fields = {"url": url, "digest": digest, "mime": "text/html", "filename": "warc/" + name}
                index.append(f"k 20260101000000 {json.dumps(fields)}")
                log.append({"url": url, "record_type": "response"})
    (crawl_dir / "index.cdxj").write_text("\n".join(index) + "\n")
    (crawl_dir / "crawl.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    return crawl_dir


def test_originals_are_found_newest_first_and_only_when_needed(tmp_path):
    history = JobHistory(tmp_path / "job")
    r1, r2, r3, r4 = (history.new_run() for _ in range(4))
    c1 = crawl(r1, [("/a", "A", False, "one.warc.gz"), ("/b", "B", False, "one.warc.gz"), ("/c", "C", False, "two.warc.gz")])
    c2 = crawl(r2, [("/a", "A", True, "x.warc.gz"), ("/b", "B2", False, "x.warc.gz"), ("/c", "C", True, "x.warc.gz")])
    c3 = crawl(r3, [("/a", "A", True, "y.warc.gz"), ("/b", "B2", True, "y.warc.gz"), ("/c", "C3", False, "y.warc.gz"),
                    ("/d", "C3", True, "y.warc.gz")])
    c4 = crawl(r4, [("/a", "A2", False, "z.warc.gz")])
    assert revisit_refs(c3) == {("digest", "A"), ("digest", "B2")}  # C3 is also held in full by the crawl itself
    assert original_files(c3, [c1, c2]) == [c1 / "warc/one.warc.gz", c2 / "warc/x.warc.gz"]
    assert original_files(c2, [c1]) == [c1 / "warc/one.warc.gz", c1 / "warc/two.warc.gz"]
    assert original_files(c4, [c1, c2, c3]) == []
    runs = history.runs()
    assert holders_of_originals([r3, r4], runs) == {r1, r2}
    assert holders_of_originals([r4], runs) == set()
    for run in runs:
        (run / "summary.json").write_text("{}")
    history.set_latest(r4)
    assert history.prune(2, current=r4, needed=holders_of_originals) == []  # r1 and r2 hold r3's originals
    assert history.prune(1, current=r4, needed=holders_of_originals) == [r1, r2, r3]
