"""The verdict rules: one verdict per manifest row, from what the live server did.

For a redirect row (301/308), in this order:

- ``error``: no HTTP answer (connection refused, time-out, total deadline),
  or a 5xx after retries, for the old URL;
- ``not_redirected``: the old URL answers without redirecting (200: the old
  page is still served; 404: the row was never deployed);
- ``loop``: the redirects come back to a URL already met;
- ``off_host``: a redirect leads to a host that is not allowed (never followed);
- ``wrong_target``: the redirects never reach the mapped URL;
- then the mapped URL's final answer: ``error`` (no answer, cut by the total
  deadline, or a body that decodes past the cap), ``chain`` (still
  redirecting after ``MAX_HOPS``), ``target_broken`` (4xx/5xx or a broken
  redirect), ``target_soft_404`` (200, but not the mapped page: see
  ``soft_404_reason``);
- ``chain``: the mapped page is reached after more than one redirect;
- ``wrong_status``: reached in one redirect, but with another status (302 for 301);
- ``ok``.

A 410 row is ``gone_ok`` when the old URL answers 410, else ``gone_wrong``
(``error`` when there is no answer). A row the manifest expects nothing of
(unmatched) or that cannot be checked is ``not_checked``, with the reason.
Fragments are not compared (a browser keeps its own).
"""
from __future__ import annotations

from archiver.types import VerifyOutcome

from .pages import PageView, url_key
from .prober import REDIRECTS, Walk
from .rows import ExpectedRow

VERDICTS = ("ok", "gone_ok", "wrong_status", "wrong_target", "not_redirected", "chain", "loop", "off_host",
            "target_broken", "target_soft_404", "gone_wrong", "error", "not_checked")
RIGHT = frozenset({"ok", "gone_ok"})
SHARED_BY = 3  # distinct target URLs serving one identical page make it a soft 404


def soft_404_reason(view: PageView | None, *, home: PageView | None = None, is_home: bool = False,
                    shared: int = 1) -> str | None:
    """Why a 200 page is not the mapped page, or None when it is (or nothing says otherwise).

    With the new site's capture of the page, the page must have its title or
    half of its captured main text. Without it, a page is a soft 404 when its
    title or heading starts with a "not found" phrase, when it is the same page
    as its site's home page, or when ``SHARED_BY`` or more different target
    URLs serve this very page.
    """
    if view is None or not view.html:
        return None
    hints = []
    if view.not_found:
        hints.append(f'its title or heading says "{view.not_found}"')
    if home is not None and not is_home and view.same_page_as(home):
        hints.append("it is the same page as the site's home page")
    if shared >= SHARED_BY:
        hints.append(f"the same page answers {shared} different target URLs")
    same = view.is_expected_page
    if same is True:
        return None
    if same is False:
        found = "" if view.resemblance is None else f", {view.resemblance:.0%} of its captured text found"
        reason = f'not the mapped page: title "{view.title[:150]}", captured as "{view.expected.title[:150]}"{found}'
        return "; ".join([reason, *hints])
    return "; ".join(hints) or None


def _chain(walk: Walk) -> tuple[str, ...]:
    steps = [f"{a.status if a.status is not None else 'error'} {a.url}" for a in walk.answers]
    if walk.next_url and walk.end in ("loop", "off_host", "bad_location"):
        steps.append(f"{walk.end}: {walk.next_url}")
    return tuple(steps)


def judge(row: ExpectedRow, walk: Walk | None, soft_404: str | None = None) -> VerifyOutcome:
    """The outcome of ``row`` from its ``walk`` (None for rows not checked) and the
    final page's soft-404 reason, if any."""
    expected = dict(old_url=row.old_url, kind=row.kind, expected_status=row.status,
                    expected_url=str(row.new) if row.new is not None else row.new_url)
    if walk is None or not row.checkable:
        return VerifyOutcome(verdict="not_checked", detail=row.problem or "not checked", **expected)
    first, last = walk.answers[0], walk.last
    location = first.location
    if walk.end in ("off_host", "bad_location") and len(walk.answers) == 1:
        location = walk.next_url  # defanged
    page = last.page
    got = dict(got_status=first.status, got_location=location, final_status=last.status, final_url=last.url,
               final_title=page.title[:300] if page else "", hops=walk.redirects, chain=_chain(walk))

    def outcome(verdict: str, detail: str) -> VerifyOutcome:
        return VerifyOutcome(verdict=verdict, detail=detail, **expected, **got)

    if first.status is None:
        return outcome("error", f"no answer from the old URL: {first.error}")
    if first.status >= 500:
        return outcome("error", f"the old URL answered {first.status} (after {first.attempts} attempt(s))")
    if row.is_gone:
        if first.status == 410:
            return outcome("gone_ok", "")
        moved = f" to {location}" if first.status in REDIRECTS and location else ""
        return outcome("gone_wrong", f"expected 410 Gone, got {first.status}{moved}")
    if not first.is_redirect:
        if first.status in REDIRECTS:
            return outcome("wrong_target", f"{first.status} without a Location header")
        still = ": the old page is still served" if 200 <= first.status < 300 else ""
        return outcome("not_redirected", f"the old URL answered {first.status}{still}")
    if walk.end == "loop":
        return outcome("loop", f"after {walk.redirects} redirect(s) it {walk.detail}")
    if walk.end == "off_host":
        return outcome("off_host", f"a redirect leads to {walk.next_url}: {walk.detail}")
    if walk.reaches(url_key(row.new)) is None:
        if walk.end == "too_many":
            return outcome("chain", f"{walk.detail}; the mapped URL was never reached")
        tail = f" ({walk.detail})" if walk.end != "final" and walk.detail else ""
        return outcome("wrong_target", f"redirects to {first.location}, ends at {last.status} {last.url}{tail}")
    if walk.end == "error":
        return outcome("error", f"no answer from {last.url}: {walk.detail}")
    if walk.end == "too_many":
        return outcome("chain", walk.detail)
    if walk.end == "bad_location":
        return outcome("target_broken", f"{last.url} answers {last.status}: {walk.detail}")
    if last.cut:
        why = "the total deadline passed" if last.cut == "time" else "the connection was cut"
        return outcome("error", f"{last.url} answered {last.status} but {why} before its body ended")
    if not 200 <= last.status < 300:
        return outcome("target_broken", f"the target answers {last.status}")
    if page is not None and page.too_big:
        return outcome("error", f"{last.url} decodes to more than the size cap (a decompression bomb?); not read")
    if soft_404:
        return outcome("target_soft_404", soft_404)
    if walk.redirects > 1:
        return outcome("chain", f"{walk.redirects} redirects to the final page")
    if first.status != row.status:
        return outcome("wrong_status", f"expected {row.status}, got {first.status}")
    return outcome("ok", "")
