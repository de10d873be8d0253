"""The demo SiteServer behaves like a cache-friendly web server."""
import requests

from archiver.demo.server import SiteServer
from archiver.demo.site import Resource, Site


def _site(body=b"hello"):
    return Site({
        "/a?x=1": Resource(200, {"Content-Type": "text/plain"}, body),
        "/old": Resource(301, {"Location": "/a?x=1"}, b""),
        "/gone": Resource(410, {}, b"gone"),
    })


def test_serves_site_set_after_start_with_validators():
    with SiteServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert requests.get(server.base_url + "/a?x=1").status_code == 404  # empty site
        server.site = _site()
        with requests.Session() as http:
            first = http.get(server.base_url + "/a?x=1")
            assert (first.status_code, first.text) == (200, "hello")
            etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
            assert etag.startswith('"') and not etag.startswith("W/")
            assert http.get(server.base_url + "/a?x=1", headers={"If-None-Match": etag}).status_code == 304
            assert http.get(server.base_url + "/a?x=1", headers={"If-Modified-Since": modified}).status_code == 304
            assert http.get(server.base_url + "/a?x=1", headers={"If-None-Match": '"other"'}).status_code == 200
            head = http.head(server.base_url + "/a?x=1")
            assert head.headers["Content-Length"] == "5" and head.content == b""
            assert http.get(server.base_url + "/a", allow_redirects=False).status_code == 404  # query matters
            moved = http.get(server.base_url + "/old", allow_redirects=False)
            assert (moved.status_code, moved.headers["Location"]) == (301, "/a?x=1")
            assert http.get(server.base_url + "/gone").status_code == 410
        log = server.requests
        assert [r.status for r in log[1:5]] == [200, 304, 304, 200]
        assert log[2].headers["If-None-Match"] == etag


def test_changed_body_gets_new_etag_and_is_not_304():
    with SiteServer(_site()) as server:
        etag = requests.get(server.base_url + "/a?x=1").headers["ETag"]
        server.site = _site(b"changed")
        again = requests.get(server.base_url + "/a?x=1", headers={"If-None-Match": etag})
        assert again.status_code == 200 and again.text == "changed" and again.headers["ETag"] != etag


def test_keep_alive_reuses_connection():
    with SiteServer(_site()) as server, requests.Session() as http:
        http.get(server.base_url + "/a?x=1")
        http.get(server.base_url + "/a?x=1")
        http.head(server.base_url + "/nope")
        assert len({r.client_port for r in server.requests}) == 1
