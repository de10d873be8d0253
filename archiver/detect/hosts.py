"""Host names as the detectors weigh them: one site or two, furniture, names written in text.

Hosts come from ``archiver.urls.site_host`` (host and non-default port).
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

# Hosts that appear in ordinary page furniture (share buttons, players, plug-ins):
# a repeated block linking to them says nothing about a move.
FURNITURE_HOSTS = frozenset("""
facebook.com fb.com fb.me twitter.com x.com t.co instagram.com youtube.com youtu.be
linkedin.com flickr.com pinterest.com tiktok.com vimeo.com soundcloud.com
whatsapp.com wa.me t.me telegram.me threads.net bsky.app mastodon.social
google.com goo.gl maps.google.com play.google.com apps.apple.com apple.com
addthis.com sharethis.com addtoany.com disqus.com gravatar.com
adobe.com get.adobe.com microsoft.com mozilla.org w3.org validator.w3.org
creativecommons.org wordpress.org wordpress.com joomla.org drupal.org
issuu.com slideshare.net scribd.com
""".split())

def bare(host: str) -> str:
    """The host without a leading ``www.``: www.gov.si and gov.si are one site."""
    return host[4:] if host.startswith("www.") else host


def same_site(a: str, b: str) -> bool:
    return bool(a) and bare(a) == bare(b)


def host_matches(host: str, hosts, *, subdomains: bool = False) -> bool:
    """True when ``host`` is one of ``hosts`` (www-insensitive), or a subdomain if asked.

    Subdomains are off by default: mnz.gov.si is not part of the new site gov.si.
    """
    host = bare(host)
    for other in hosts:
        other = bare(other)
        if host == other or (subdomains and host.endswith("." + other)):
            return True
    return False


def is_furniture(host: str) -> bool:
    """A share-button/plug-in host, or a subdomain of one (m.facebook.com)."""
    labels = bare(host.split(":", 1)[0]).split(".")
    return any(".".join(labels[i:]) in FURNITURE_HOSTS for i in range(len(labels) - 1))


def related(a: str, b: str) -> bool:
    """Both hosts sit under one organisational domain (mnz.gov.si and www.gov.si)."""
    la, lb = bare(a).split("."), bare(b).split(".")
    common = 0
    for x, y in zip(reversed(la), reversed(lb)):
        if x != y:
            break
        common += 1
    return common >= 2


_LANG_ROOT = re.compile(r"/(?:[a-z]{2}(?:[-_][a-z]{2})?/?)?", re.IGNORECASE)


def is_site_root(url: str) -> bool:
    """The home page or a language root (/, /en/, /sl-si/)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return not parts.query and bool(_LANG_ROOT.fullmatch(parts.path or "/"))


# Domain names as people write them in text: "GOV.SI", "www.gov.si".
_HOST_IN_TEXT = re.compile(
    r"(?<![\w@.\-/])((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+([a-z]{2,24}))(?![\w\-]|\.[a-z0-9])",
    re.IGNORECASE,
)
_MAYBE_HOST = re.compile(r"[a-z0-9]\.[a-z]{2}", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_GENERIC_TLDS = frozenset(
    "com org net gov edu int mil eu info biz name pro museum coop aero asia cat jobs mobi "
    "tel travel io app dev online site website news media agency global europa".split()
)
_NOT_TLDS = frozenset("js py sh rb cs db ts md".split())


def hosts_named(text: str) -> set[str]:
    """Domain names written in text (e-mail addresses ignored), lower-cased."""
    found = set()
    if not _MAYBE_HOST.search(text):
        return found
    for match in _HOST_IN_TEXT.finditer(_EMAIL.sub(" ", text)):
        host, tld = match.group(1).lower(), match.group(2).lower()
        if tld in _NOT_TLDS or not (len(tld) == 2 or tld in _GENERIC_TLDS):
            continue
        labels = host.split(".")
        if any(label.isdigit() for label in labels) or max(len(label) for label in labels[:-1]) < 2:
            continue
        found.add(host)
    return found
