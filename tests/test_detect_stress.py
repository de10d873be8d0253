"""Randomized retired sites: banner wordings in many languages (most in no pack),
positions, link kinds, site sizes and furniture; precision and recall measured.
"""
import random

import pytest

from archiver.detect import detect
from archiver.types import Capture

# {link}: the notice's link; {host}: the new host written as text
WORDINGS = [
    "The content of this website has been moved to {link}. For more recent information visit {link}.",
    "Vsebine tega spletnega mesta so bile preseljene na {link}.",
    "Spletna stran ni več ažurna. Vsebina je na voljo na portalu {host}.",  # names the portal only
    "Dieses Angebot finden Sie künftig im Landesportal {link}.",
    "Stranice ministarstva od sada se nalaze na {link}",
    "Le site du ministère est désormais intégré au portail {link}.",
    "Il sito del ministero confluisce nel portale {link}.",
    "Our publications now live on {link} – please update your bookmarks.",
    "Novejše objave so zbrane na {link}, tu hranimo starejše.",
    "Tämä sivusto on siirtynyt osoitteeseen {link}.",
]
FURNITURE = [
    '<div id="cookie">This site uses cookies. Read more at <a href="https://www.ip-rs.si/">www.ip-rs.si</a>.</div>',
    '<div class="partners"><a href="https://www.eu-skladi.si/">Projekt sofinancira Evropska unija</a></div>',
    '<aside><ul><li><a href="https://www.vlada.si/">Vlada</a></li><li><a href="https://www.policija.si/">'
    'Policija</a></li><li><a href="{new}/">Portal</a></li></ul></aside>',
    '<footer><p>Follow us on <a href="https://facebook.com/x">Facebook</a></p></footer>',
    '<div class="credits">Design: <a href="https://www.agencija.si/">agencija.si</a></div>',
    '<div class="app">Download our app from <a href="https://apps.apple.com/x">App Store</a></div>',
    '<div class="grant">Ta projekt financira <a href="https://eeagrants.org/">Norveški finančni mehanizem</a> '
    'v okviru programa za notranje zadeve.</div>',
    '<div class="search">Search powered by <a href="https://www.google.com/">Google</a></div>',
]
OLD_HOSTS = ["https://www.mnz.gov.si", "https://stara.example.org", "http://www.ministerium.de", "https://mup.gov.hr"]
NEW_HOSTS = ["https://www.gov.si", "https://www.example.com", "https://portal.gv.at", "https://gov.hr"]
FILLER = "lorem ipsum dolor sit amet minister ministry police border".split()


def random_site(seed):
    rng = random.Random(seed)
    old = rng.choice(OLD_HOSTS)
    new = rng.choice([h for h in NEW_HOSTS if h.split("//")[1] not in old])
    host = new.split("//")[1]
    wording = rng.choice(WORDINGS)
    share = rng.choice([0, 0.3, 0.7, 1.0])
    position = rng.choice(["top", "top", "mid", "bottom"])
    link_kind = rng.choice(["home", "home", "section", "page"])
    furniture = "".join(f.replace("{new}", new) for f in rng.sample(FURNITURE, rng.randint(1, 4)))
    captures, truth = [], {}
    for i in range(rng.randint(8, 50)):
        url = f"{old}/a/{1000 + i}/"
        banner, label, target = "", "live", None
        if rng.random() < share:
            target = {"home": f"{new}/", "section": f"{new}/organi/ministrstvo/",
                      "page": f"{new}/novice/2019-0{i % 9 + 1}-01-x{i}"}[link_kind]
            anchor = rng.choice([host, host.upper(), "here", "the new portal"])
            text = wording.replace("{link}", f'<a href="{target}">{anchor}</a>').replace("{host}", host)
            tag = rng.choice(["div", "p", "section", "aside"])
            banner = f'<{tag} class="b">{text}</{tag}>'
            if "{link}" not in wording:
                label, target = "moved_site", None
            else:
                label = "moved" if link_kind == "page" else "moved_site"
        words = " ".join(rng.choice(FILLER) for _ in range(150))
        slots = {p: banner if p == position else "" for p in ("top", "mid", "bottom")}
        body = (f"<html><body><nav><a href='/'>Home</a><a href='{new}/'>New</a></nav>{slots['top']}<main>"
                f"<h1>T{i}</h1><p>{words}</p>{slots['mid']}<p>{words}</p></main>{slots['bottom']}{furniture}"
                f"</body></html>")
        captures.append(Capture(url=url, status=200, headers=(("Content-Type", "text/html"),), body=body.encode(),
                                date="2024-01-01T00:00:00Z", file="random", offset=i))
        truth[url] = (label, target)
    return captures, truth, new


@pytest.mark.parametrize("give_hosts, min_recall", [(True, 0.97), (False, 0.6)])
def test_randomized_sites_precision_recall(give_hosts, min_recall):
    tp = fp = fn = exact = total = 0
    for seed in range(40):
        captures, truth, new = random_site(seed)
        got = {n.url: n for n in detect(captures, new_hosts=[new] if give_hosts else ())}
        for url, (label, target) in truth.items():
            moved, said = label != "live", got[url].classification in ("moved", "moved_site")
            tp += moved and said
            fp += said and not moved
            fn += moved and not said
            exact += (got[url].classification, got[url].target) == (label, target)
            total += 1
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    print(f"\nnew hosts given={give_hosts}: precision {precision:.3f} recall {recall:.3f} "
          f"exact {exact / total:.3f} over {total} pages")
    assert precision >= 0.99
    assert recall >= min_recall
    if give_hosts:
        assert exact / total >= 0.95
