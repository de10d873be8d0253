"""Job manifests: every key validated, errors name the key, exit status 2."""
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.errors import UsageError
from archiver.jobs.manifest import load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
name = "mnz"
keep_runs = 3
[legacy]
seeds = ["https://www.mnz.gov.si/en/"]
sitemaps = ["https://www.mnz.gov.si/sitemap.xml"]
exclude = ["\\\\?print=1"]
max_pages = 500
[new]
seeds = ["https://www.gov.si/en/"]
[crawl]
concurrency = 4
delay = 0.5
record_credentials = false
[crawl.headers]
Authorization = "Bearer abc"
[detect]
phrases = ["has moved to GOV.SI"]
[mapping]
rules = [{pattern = "^https://www\\\\.mnz\\\\.gov\\\\.si/en/news/", target = "https://www.gov.si/en/news/"}]
min_confidence = 0.7
status = 308
assets = ["image/*", "application/zip"]
documents_follow_gone = true
[audit]
fail_under = 0.95
[verify]
against = "https://www.mnz.gov.si"
fail_under = 0.99
"""


def write(tmp_path, text, name="job.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_manifests_load():
    demo = load_manifest(ROOT / "manifests" / "demo.toml")
    assert demo.plugged["demo"].embedded and demo.name == "demo"
    for path in (ROOT / "manifests").glob("*.toml"):
        assert all(site.seeds for site in load_manifest(path).sites)


def test_good_manifest_values(tmp_path):
    m = load_manifest(write(tmp_path, GOOD))
    assert m.name == "mnz" and m.keep_runs == 3
    assert m.sites[0].max_pages == 500 and m.sites[0].exclude == (r"\?print=1",)
    assert m.sites[0].name == "mnz" and not m.programme  # a single [legacy] is named by the job
    assert m.crawl["extra_headers"] == {"Authorization": "Bearer abc"}
    assert m.mapping.rules[0].target == "https://www.gov.si/en/news/"
    assert (m.mapping.status, m.mapping.min_confidence, m.audit.fail_under) == (308, 0.7, 0.95)
    assert m.mapping.assets == ("image/*", "application/zip") and m.mapping.documents_follow_gone is True
    assert m.target_hosts == ("www.gov.si",)  # default: the new site's hosts
    assert (m.verify.against, m.verify.fail_under) == ("https://www.mnz.gov.si", 0.99)


def test_crawl_config_for_each_side(tmp_path):
    m = load_manifest(write(tmp_path, GOOD))
    legacy = m.crawl_config("legacy", tmp_path / "legacy", previous=None)
    assert legacy.seeds == ["https://www.mnz.gov.si/en/"] and legacy.max_pages == 500
    assert legacy.extra_headers == {"Authorization": "Bearer abc"} and legacy.delay == 0.5
    assert legacy.record_credentials is False
    new = m.crawl_config("new", tmp_path / "new")
    assert new.seeds == ["https://www.gov.si/en/"] and new.max_pages is None and new.exclude == []


@pytest.mark.parametrize("old, new, expected", [
    ('concurrency = 4', 'concurrency = "four"', "[crawl] concurrency: expected an integer > 0, got 'four'"),
    ('concurrency = 4', 'concurency = 4', "[crawl] concurency: unknown key"),
    ('name = "mnz"', 'name = "../etc"', "name: expected a name"),
    ('name = "mnz"', 'nme = "mnz"', "nme: unknown key"),
    ('seeds = ["https://www.gov.si/en/"]', 'seeds = ["ftp://www.gov.si/"]', "[new] seeds: not an http(s) URL: 'ftp://www.gov.si/'"),
    ('seeds = ["https://www.gov.si/en/"]', 'seeds = "https://www.gov.si/"', "[new] seeds: expected a list of http(s) URLs"),
    ('seeds = ["https://www.gov.si/en/"]', 'seeds = []', "[new] seeds: give at least one seed URL"),
    ('seeds = ["https://www.gov.si/en/"]', 'sitemaps = []', "[new] seeds: required"),
    ('delay = 0.5', 'delay = -1', "[crawl] delay: expected a number >= 0"),
    ('record_credentials = false', 'record_credentials = "no"', "[crawl] record_credentials: expected true or false"),
    ('status = 308', 'status = 302', "[mapping] status: expected 301 or 308"),
    ('min_confidence = 0.7', 'min_confidence = 7', "[mapping] min_confidence: expected a number from 0 to 1"),
    ('assets = ["image/*", "application/zip"]', 'assets = ["images"]', "[mapping] assets: expected a list of media types"),
    ('documents_follow_gone = true', 'documents_follow_gone = 1', "[mapping] documents_follow_gone: expected true or false"),
    ('exclude = ["\\\\?print=1"]', 'exclude = ["(unclosed"]', "[legacy] exclude: bad regular expression '(unclosed'"),
    ('target = "https://www.gov.si/en/news/"', 'target = "javascript:alert(1)"', "[mapping] rules: rule 1: target: not an http(s) URL"),
    ('keep_runs = 3', 'keep_runs = 0', "keep_runs: expected an integer > 0"),
    ('[detect]', '[detection]', "[detection]"),
    ('Authorization = "Bearer abc"', '"Bad Header" = "x"', "[crawl] headers: Bad Header"),
    ('[audit]', '[export]\nformats = ["nginx", "iis"]\n[audit]', "[export] formats: unknown format 'iis'"),
    ('fail_under = 0.95', 'fail_under = 95', "[audit] fail_under: expected a number from 0 to 1, got 95"),
    ('max_pages = 500', 'max_pages = 5.5', "[legacy] max_pages: expected an integer > 0, got 5.5"),
    ('against = "https://www.mnz.gov.si"', 'against = "https://www.mnz.gov.si/en/"',
     "[verify] against: expected scheme://host[:port] without a path"),
    ('against = "https://www.mnz.gov.si"', 'against = ["https://www.mnz.gov.si"]', "[verify] against: expected a URL string"),
    ('fail_under = 0.99', 'fail_under = 99', "[verify] fail_under: expected a number from 0 to 1"),
    ('[audit]', '[export]\nformats = ["nginx"]\n[audit]', "[verify] against: the check reads redirects.csv"),
])
def test_errors_name_the_key(tmp_path, old, new, expected):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(UsageError) as err:
        load_manifest(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and expected in message


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match="not valid TOML"):
        load_manifest(write(tmp_path, "name = \n"))
    with pytest.raises(UsageError, match="manifest not found"):
        load_manifest(tmp_path / "nope.toml")


@pytest.mark.parametrize("command", ["run", "schedule"])
def test_cli_exit_2_with_one_line(tmp_path, capsys, command):
    path = write(tmp_path, GOOD.replace("concurrency = 4", 'concurrency = "four"'))
    assert main([command, str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "[crawl] concurrency: expected an integer > 0, got 'four'" in err
    assert not (tmp_path / "out").exists()


def test_with_origins_replaces_placeholders():
    m = parse_manifest({"name": "d", "legacy": {"seeds": ["http://legacy.demo.invalid/"], "sitemaps": ["http://legacy.demo.invalid/sitemap.xml"]},
                        "new": {"seeds": ["http://new.demo.invalid/"]},
                        "mapping": {"rules": [{"pattern": "^x", "target": "http://new.demo.invalid/news/"}], "allowed_hosts": ["new.demo.invalid"]}})
    live = m.with_origins({"http://legacy.demo.invalid": "http://127.0.0.1:8001", "http://new.demo.invalid": "http://127.0.0.1:8002"})
    assert live.sites[0].seeds == ("http://127.0.0.1:8001/",) and live.sites[0].sitemaps == ("http://127.0.0.1:8001/sitemap.xml",)
    assert live.mapping.rules[0].target == "http://127.0.0.1:8002/news/" and live.mapping.allowed_hosts == ("127.0.0.1:8002",)
    assert live.new.hosts == ("127.0.0.1:8002",)


def test_bad_command_line_values_exit_2_with_one_line(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (["run", str(path), "--out", str(blocker / "out")], "cannot create output directory"),
        (["run", str(path), "--json-summary", str(tmp_path / "nope" / "s.json")], "--json-summary: no such directory"),
        (["run", str(tmp_path / "missing.toml")], "manifest not found"),
        (["diff", str(tmp_path / "no-job")], "no such directory"),
        (["demo", "--manifest", str(path), "--out", str(tmp_path / "o")], "not a demo manifest"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and expected in err, (argv, err)


def test_crawl_keys_are_the_crawl_config_settings(tmp_path):
    """[crawl] accepts exactly CrawlConfig's settings, each reaching the crawl, and the
    crawl command's options of the same name override them."""
    from archiver.capture import CrawlConfig
    from archiver.capture.cli import build_config
    from archiver.cli import build_parser
    from archiver.settings import settings_of

    values = {"positive_int": 7, "count": 0, "seconds": 1.5, "positive_seconds": 2.5, "bool": True,
              "line": "probe-agent", "headers": {"X-Probe": "1"}}
    settings = settings_of(CrawlConfig)
    lines = []
    for key, field in settings.items():
        value = values[field.metadata["kind"]]
        if isinstance(value, dict):
            lines.append(f"[crawl.{key}]\n" + "".join(f'{k} = "{v}"\n' for k, v in value.items()))
        else:
            lines.insert(0, f"{key} = {str(value).lower() if isinstance(value, bool) else repr(value).replace(chr(39), chr(34))}\n")
    text = GOOD.split("[crawl]")[0] + "[crawl]\n" + "".join(lines) + "[audit]\nfail_under = 0.9\n"
    path = write(tmp_path, text)
    config = load_manifest(path).crawl_config("legacy", tmp_path / "c")
    for key, field in settings.items():
        expected = values[field.metadata["kind"]]
        if field.name == "max_pages":
            expected = 500  # [legacy] max_pages wins over [crawl]
        assert getattr(config, field.name) == expected, key
    args = build_parser("crawl").parse_args(["crawl", str(path), "--concurrency", "3", "--ignore-robots"])
    overridden = build_config(args)
    assert (overridden.concurrency, overridden.ignore_robots, overridden.delay) == (3, True, 1.5)


def test_a_real_manifest_does_not_import_the_demo():
    code = ("import sys; from archiver.jobs.manifest import load_manifest; "
            f"m = load_manifest({str(ROOT / 'manifests' / 'example-mnz.toml')!r}); "
            "assert 'demo' not in m.plugged; print(sorted(n for n in sys.modules if n.startswith('archiver.demo')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_demo_table_keys_are_the_demos(tmp_path):
    with pytest.raises(UsageError, match=r"\[demo\] articels: unknown key"):
        load_manifest(write(tmp_path, GOOD + "[demo]\narticels = 5\n"))
    assert load_manifest(write(tmp_path, GOOD + "[demo]\narticles = 5\n")).plugged["demo"].articles == 5
