"""Detection on the generated demo pair (archiver.demo.sitegen): statuses and redirects vs truth."""
import pytest

from archiver.demo import sitegen
from archiver.detect import detect
from archiver.types import Capture

OLD, NEW = "http://127.0.0.1:8001", "http://127.0.0.1:8002"


def site_captures(site, base):
    for offset, (path, res) in enumerate(site.resources.items()):
        body = res.body if isinstance(res.body, bytes) else res.body.encode()
        yield Capture(url=base + path, status=res.status, headers=tuple(res.headers.items()), body=body,
                      date="2024-01-01T00:00:00Z", file="generated", offset=offset)


@pytest.mark.parametrize("seed", [3, 4])
def test_generated_pair_statuses_redirects_and_banners(seed):
    pair = sitegen.generate_pair(OLD, NEW, n_articles=80, seed=seed)
    captures = list(site_captures(pair.legacy, OLD)) + list(site_captures(pair.new, NEW))
    notices = {n.url: n for n in detect(captures, new_hosts=["127.0.0.1:8002"])}
    assert not any(url.startswith(NEW) for url in notices)  # the new site's pages are not legacy pages
    checked = 0
    for url, want in pair.truth.items():
        notice = notices[url]
        status = pair.legacy.resources[url[len(OLD):]].status
        if want == "gone":
            assert notice.classification == "gone", url
        elif status in (301, 302, 307, 308):
            # a redirect chain resolves to the final URL; a redirect to the portal home is site-level
            if want is None:
                assert notice.classification == "moved_site", url
            else:
                assert (notice.classification, notice.target) == ("moved", want), url
        else:
            continue
        checked += 1
    assert checked >= 10
    # listings and home pages carry the site-wide banner: site-level moves pointing at the portal
    home = notices[OLD + "/"]
    assert home.classification == "moved_site" and home.target.startswith(NEW)
    banners = [n for n in notices.values() if any(s.kind == "banner" for s in n.signals)]
    assert len(banners) >= len(notices) // 2
