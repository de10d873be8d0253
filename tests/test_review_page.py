"""``archiver review`` driven in a real headless Chromium, and the decisions kept by later runs.

The demo's sites are generated and served here, with one hostile legacy page
added (HTML and script in its title and body); the job runs three times
against the same live sites, with a person's decisions made in the review
page between the first and the second run.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from archiver.demo import embedded_sites
from archiver.jobs.manifest import load_manifest
from archiver.jobs.run import run_job
from archiver.review import ReviewSession
from archiver.review.server import TOKEN_HEADER, ReviewServer

from webservers import require

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "output" / "test-artifacts" / "review"
HOSTILE_TITLE = "<script>document.body.dataset.pwned='title'</script><img src=x onerror=\"document.body.dataset.pwned='img'\"> Hostile & \"quoted\""
_ESCAPED_TITLE = ("&lt;script&gt;document.body.dataset.pwned='title'&lt;/script&gt;"
                  "&lt;img src=x onerror=\"document.body.dataset.pwned='img'\"&gt; Hostile &amp; \"quoted\"")
HOSTILE_PAGE = (f"<!DOCTYPE html><html><head><title>{_ESCAPED_TITLE}</title>"
                "<meta http-equiv=\"refresh\" content=\"0; url=http://example.invalid/\"></head><body>"
                f"<h1 onmouseover=\"document.body.dataset.pwned='h1'\">{_ESCAPED_TITLE}</h1>"
                "<p>Quarterly zeppelin maintenance schedule for the ministry's imaginary airship fleet, "
                "with inspection notes, hangar assignments and crew rotations nobody ever migrated.</p>"
                "<script>document.body.dataset.pwned='body'; parent.document.body.dataset.pwned='parent';</script>"
                "<img src=\"http://example.invalid/beacon.png\"></body></html>")


def _launch(playwright, user_data: str):
    return playwright.chromium.launch_persistent_context(
        user_data, executable_path=CHROMIUM, headless=True, viewport={"width": 1500, "height": 950},
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--no-first-run", "--disable-dev-shm-usage"])


def _rows(run_dir: Path) -> dict[str, dict]:
    with (run_dir / "redirects.csv").open(encoding="utf-8", newline="") as fh:
        return {row["old_url"]: row for row in csv.DictReader(fh)}


def _decisions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _act(page, key: str, decision: str) -> str:
    """Press ``key`` on the URL on screen; returns that URL once the page says it saved ``decision``."""
    url = page.locator("#old-url").inner_text()
    page.keyboard.press(key)
    expect(page.locator("#status")).to_have_text(re.compile(f"^saved: {re.escape(url)} decided: {decision}"))
    return url


def _review_in_browser(server: ReviewServer, decisions_file: Path, new_base: str) -> dict[str, dict]:
    """Accept a candidate, type a URL, mark one gone, leave one unmatched and undo that;
    check the hostile page; returns the decisions the file must hold."""
    expected: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = _launch(playwright, tempfile.mkdtemp(prefix="archiver-chromium-"))
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)
            expect(page.locator("#progress-text")).to_have_text(re.compile(r"^0 of \d+ decided$"))
            expect(page.locator("#choice-list li").first).to_be_visible()
            _shot(page, "1-queue")

            # 1: accept the first candidate
            candidate = page.locator("#choice-list li .url").first.inner_text()
            url = _act(page, "1", "redirect")
            expected[url] = {"decision": "redirect", "new_url": candidate}
            assert _decisions(decisions_file)[-1]["old_url"] == url  # on disk as soon as the page says saved

            # 2: type a URL on the new site, picked from the suggestions
            url = page.locator("#old-url").inner_text()
            page.keyboard.press("u")
            page.locator("#typed-url").press_sequentially("novice")
            suggestion = page.locator("#suggestions li .url").get_by_text(f"{new_base}/novice/", exact=True)
            expect(suggestion).to_be_visible()
            _shot(page, "2-suggestions")
            suggestion.dispatch_event("mousedown")
            expect(page.locator("#typed-url")).to_have_value(f"{new_base}/novice/")
            expect(page.locator("#typed-check")).to_have_text("captured on the new site")
            page.locator("#typed-url").press("Enter")
            expect(page.locator("#status")).to_have_text(re.compile(f"^saved: {re.escape(url)} decided: redirect"))
            expected[url] = {"decision": "redirect", "new_url": f"{new_base}/novice/"}

            # a URL off the allowed hosts is refused in the page, nothing is written
            page.keyboard.press("u")
            page.locator("#typed-url").fill("https://evil.example/phish")
            page.locator("#typed-url").press("Enter")
            expect(page.locator("#status")).to_have_text(re.compile("evil.example is not an allowed target host"))
            page.keyboard.press("Escape")

            # 3: gone, with a note; 4: unmatched, then undone
            page.locator("#note").fill("removed in 2018, <b>no</b> successor")
            page.locator("#note").press("Escape")
            url = _act(page, "g", "gone")
            expected[url] = {"decision": "gone", "new_url": ""}
            assert _decisions(decisions_file)[-1]["note"] == "removed in 2018, <b>no</b> successor"
            expect(page.locator("#note")).to_have_value("")
            undone = _act(page, "n", "unmatched")
            assert any(d["old_url"] == undone for d in _decisions(decisions_file))
            page.keyboard.press("z")
            expect(page.locator("#status")).to_have_text(f"undone: {undone} is undecided again")
            expect(page.locator("#progress-text")).to_have_text(re.compile(r"^3 of \d+ decided$"))
            _shot(page, "3-decided")

            # search finds the hostile page; its title is text, and nothing of it ran
            page.locator("#search").press_sequentially("Hostile")
            page.locator("#search-results li").first.click()
            expect(page.locator("#old-title")).to_have_text(HOSTILE_TITLE)
            expect(page.locator("#queue-list .title").get_by_text(HOSTILE_TITLE, exact=True)).to_be_visible()
            frame = page.frame_locator("#old-render")
            expect(frame.locator("h1")).to_have_text(HOSTILE_TITLE)
            frame.locator("h1").hover()
            assert page.locator("#old-render").get_attribute("sandbox") == ""
            _shot(page, "4-hostile")
            expect(page.locator("body[data-pwned]")).to_have_count(0)
            expect(frame.locator("body[data-pwned]")).to_have_count(0)
            assert page.locator("img[src=x]").count() == 0
            assert errors == []

            # a form on another origin posting to the review server is refused by it
            attacker = browser.new_page()
            attacker.set_content(f'<form method="post" action="{server.url}api/decide" enctype="text/plain">'
                                 '<input name=\'{"old_url":"x","decision":"gone","x\' value=\'"}\'></form>')
            with attacker.expect_navigation():
                attacker.locator("form").evaluate("form => form.submit()")
            assert "cross-origin request refused" in attacker.content()
        finally:
            browser.close()
    return expected


def test_review_decisions_are_kept_by_later_runs(tmp_path, capsys, caplog):
    require(CHROMIUM)
    manifest_path = tmp_path / "demo.toml"
    shutil.copyfile(ROOT / "manifests" / "demo.toml", manifest_path)
    manifest = load_manifest(manifest_path)
    decisions_file = tmp_path / "demo.decisions.csv"
    assert manifest.decisions_file == decisions_file
    out = tmp_path / "out"
    with embedded_sites(manifest, out) as (live, pair):
        pair.legacy.add("/hostile/", HOSTILE_PAGE)
        site = live.sites[0]
        live = dataclasses.replace(live, sites=(dataclasses.replace(
            site, seeds=(*site.seeds, f"{pair.legacy_base}/hostile/")),))
        first = run_job(live, out, quiet=True)
        assert first.exit_code == 0
        assert (first.run_dir / "candidates.jsonl").is_file()
        assert first.summary["decisions"]["present"] is False

        with ReviewSession.open(out / "demo") as session, ReviewServer(session) as server:
            assert session.store.path == decisions_file
            expected = _review_in_browser(server, decisions_file, pair.new_base)
            before = decisions_file.read_bytes()
            old_url = next(iter(expected))
            decide = f"{server.url}api/decide"
            body = {"old_url": old_url, "decision": "gone"}
            # a cross-origin POST without the token, with a foreign Origin, and a foreign Host
            assert requests.post(decide, json=body, headers={"Origin": "http://evil.example"}).status_code == 403
            assert requests.post(decide, json=body).status_code == 403
            assert requests.post(decide, json=body, headers={TOKEN_HEADER: "guess"}).status_code == 403
            token = re.search(r'name="review-token" content="([^"]+)"', requests.get(server.url).text).group(1)
            assert requests.post(decide, json=body, headers={TOKEN_HEADER: token,
                                                            "Origin": "http://evil.example"}).status_code == 403
            rebound = server.url.replace("127.0.0.1", "evil.example")
            assert requests.get(server.url, headers={"Host": rebound.split("/")[2]}).status_code == 400
            assert decisions_file.read_bytes() == before

        held = {d["old_url"]: d for d in _decisions(decisions_file)}
        assert {url: {"decision": d["decision"], "new_url": d["new_url"]} for url, d in held.items()} == expected
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["decided_at"]) for d in held.values())

        # a decision for a URL the capture no longer holds is reported, and kept in the file
        stale = f"{pair.legacy_base}/no/longer/linked/"
        with decisions_file.open("a", encoding="utf-8") as fh:
            fh.write(f"{stale},gone,,removed long ago,2026-01-01T00:00:00Z\n")
        capsys.readouterr()
        for number in (2, 3):
            result = run_job(live, out, quiet=number == 3)
            assert result.exit_code == 0
            rows = _rows(result.run_dir)
            for url, decision in expected.items():
                row = rows[url]
                assert row["method"] == "reviewed", row
                if decision["decision"] == "gone":
                    assert (row["kind"], row["status"], row["new_url"]) == ("gone", "410", "")
                else:
                    assert row["kind"] == "page" and row["new_url"] == decision["new_url"], row
            report = json.loads((result.run_dir / "summary.json").read_text())["decisions"]
            assert report["applied"] == 3 and report["not_captured"] == [stale]
            assert report["by_decision"] == {"redirect": 2, "gone": 1, "unmatched": 0, "ignore": 0}
            if number == 2:
                printed = capsys.readouterr()
                assert "decisions: 3 of 4 applied (redirect 2, gone 1); 1 not in the capture" in printed.out
                assert f"not applied: {stale} is not among the legacy capture's pages" in caplog.text
        assert len(_decisions(decisions_file)) == 4
