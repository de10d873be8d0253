"""verify.json, verify.html and the one-line summary.

``verify.json`` holds every row's outcome (``VerifyOutcome`` fields), the
counts per verdict and per old host, and whether the run passed.
``verify.html`` is one self-contained page rendered by Jinja2 with
autoescaping on: URLs, titles and Location headers come from servers that
may be hostile, and the page's Content-Security-Policy forbids any network
load; it filters by verdict with inline script, nothing fetched.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from archiver.types import VerifyOutcome

from .verdicts import RIGHT, VERDICTS

JSON_FILE = "verify.json"
HTML_FILE = "verify.html"
MAX_HTML_ROWS = 20_000  # rows shown in verify.html (problems first); verify.json has all


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split("?", 1)[0].lower() or "(none)"


@dataclass
class VerifyReport:
    """Everything one verify run found; ``to_json()`` is verify.json."""

    against: str
    source: str
    outcomes: list[VerifyOutcome]
    fail_under: float = 1.0
    allowed_hosts: list[str] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0
    requests: int = 0
    settings: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(o.verdict for o in self.outcomes)
        return {verdict: found[verdict] for verdict in VERDICTS if found[verdict]}

    @property
    def checked(self) -> int:
        return sum(1 for o in self.outcomes if o.verdict != "not_checked")

    @property
    def right(self) -> int:
        return sum(1 for o in self.outcomes if o.verdict in RIGHT)

    @property
    def ratio(self) -> float | None:
        """Right rows among those checked (None when none could be checked)."""
        return self.right / self.checked if self.checked else None

    @property
    def passed(self) -> bool:
        """At least ``fail_under`` of the checked rows are right (nothing checked counts as 0)."""
        return (self.ratio or 0.0) >= self.fail_under

    @property
    def hosts(self) -> dict[str, dict[str, int]]:
        """Old host -> verdict -> rows."""
        table: dict[str, Counter] = {}
        for outcome in self.outcomes:
            table.setdefault(_host(outcome.old_url), Counter())[outcome.verdict] += 1
        return {host: dict(counts) for host, counts in sorted(table.items())}

    def summary(self) -> dict:
        """The numbers, for a job's summary.json."""
        return {"against": self.against, "rows": len(self.outcomes), "checked": self.checked, "right": self.right,
                "ratio": self.ratio, "fail_under": self.fail_under, "passed": self.passed, "verdicts": self.counts}

    def to_json(self) -> dict:
        return {**self.summary(), "source": self.source, "allowed_hosts": self.allowed_hosts,
                "started": self.started, "seconds": self.seconds, "requests": self.requests,
                "settings": self.settings, "hosts": self.hosts, "rows": [o.to_json() for o in self.outcomes]}


def summary_line(report: VerifyReport, html_path: Path | str | None = None) -> str:
    """``verify BASE: N rows, C checked: 9 ok, 1 chain; 2 not checked; 90.0% right < 100%: FAILED | report``."""
    counts = report.counts
    shown = ", ".join(f"{n} {verdict}" for verdict, n in counts.items() if verdict != "not_checked") or "nothing"
    parts = [f"verify {report.against}: {len(report.outcomes)} rows, {report.checked} checked: {shown}"]
    if counts.get("not_checked"):
        parts.append(f"{counts['not_checked']} not checked")
    ratio = "n/a" if report.ratio is None else f"{report.ratio:.1%}"
    bar = "" if report.passed else f" < {report.fail_under:.0%}"
    parts.append(f"{ratio} right{bar}: {'passed' if report.passed else 'FAILED'}")
    line = "; ".join(parts)
    return f"{line} | {html_path}" if html_path else line


def _problems_first(outcomes: list[VerifyOutcome]) -> list[VerifyOutcome]:
    rank = {"not_checked": 1, "ok": 2, "gone_ok": 2}
    return sorted(outcomes, key=lambda o: rank.get(o.verdict, 0))


def render_html(report: VerifyReport) -> str:
    template = resources.files("archiver.verify").joinpath("report.html").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    rows = _problems_first(report.outcomes)
    return environment.from_string(template).render(
        report=report, data=report.summary(), rows=rows[:MAX_HTML_ROWS], total=len(rows), right=RIGHT,
        hosts=report.hosts, verdicts=[v for v in VERDICTS if v in report.counts])


def write_report(report: VerifyReport, out_dir: Path | str) -> dict[str, Path]:
    """Write verify.json and verify.html into ``out_dir`` (each replaced whole, never half-written)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / JSON_FILE, "html": out / HTML_FILE}
    texts = {"json": json.dumps(report.to_json(), indent=1, ensure_ascii=False), "html": render_html(report)}
    for name, path in paths.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(texts[name], encoding="utf-8")
        os.replace(tmp, path)
    return paths


def read_verdicts(path: Path | str) -> dict[str, str]:
    """old URL -> verdict from a verify.json ({} when there is none)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {row["old_url"]: row["verdict"] for row in data.get("rows", []) if isinstance(row, dict) and "old_url" in row}
