"""audit.html in a real headless Chromium: short cells never break, the verdict is in words,
hostile URLs stay text, and the page loads nothing from anywhere."""
from __future__ import annotations

import shutil

import pytest

from archiver.audit import audit, write_report

from warcs import response, write_warc

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")  # a third-party test dependency, not our code
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="needs a chromium binary (apt install chromium)")

HOSTILE = "http://example.com/<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"


def test_report_reads_right_in_a_browser(tmp_path):
    long_path = "/" + "/".join(f"section-{i}-with-a-long-name" for i in range(12))
    urls = [f"http://example.com{long_path}/page-{i}.html" for i in range(8)]
    write_warc(tmp_path / "a.warc.gz", [response(urls[0], b"<html>a</html>"),
                                        response(urls[1], b"gone", 410),
                                        response(urls[2], b"error", 503)])
    expected = tmp_path / "expected.txt"
    expected.write_text("\n".join([*urls, HOSTILE]) + "\n")
    report = audit([tmp_path / "a.warc.gz"], expected_file=expected, fail_under=0.9)
    page_path = write_report(report, tmp_path / "out")["html"]

    requested = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 700, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        page.goto(page_path.as_uri())
        lines_per_short_cell = page.evaluate("""() => Array.from(document.querySelectorAll('td.short'))
            .filter(td => td.textContent.trim() !== '')
            .map(td => { const r = document.createRange(); r.selectNodeContents(td);
                         return [td.textContent, r.getClientRects().length]; })""")
        verdict = page.inner_text("p.verdict")
        pwned = page.evaluate("() => window.pwned")
        hostile_cells = page.evaluate(
            "() => Array.from(document.querySelectorAll('td.url')).filter(td => td.textContent.includes('<script>')).length")
        browser.close()
    assert requested == [page_path.as_uri()]  # the page alone: no script, style or image from anywhere
    assert lines_per_short_cell and {n for _, n in lines_per_short_cell} == {1}, lines_per_short_cell
    assert any(text == "503" for text, _ in lines_per_short_cell)
    assert verdict.startswith("FAILED: completeness 11.1% is under the threshold of 90.0%")
    assert pwned is None and hostile_cells >= 2  # shown as text in the missing list and the outcomes
