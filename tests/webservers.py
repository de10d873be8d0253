"""Real nginx, Apache and pywb on loopback, for tests that load our output into them.

``nginx_conf``/``apache_conf`` write a minimal server config that includes the
exported files; ``run_nginx``/``run_apache`` start the server and wait until it
listens; ``raw_get`` sends a request target byte for byte (no client-side
normalisation) and returns (status, Location). ``run_pywb`` replays a folder
holding a pywb ``config.yaml`` (and ``collections/``).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from archiver.export import nginx

NGINX = "/usr/sbin/nginx"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")


def require(program: str) -> None:
    """Fail when a server program is missing in CI; skip only on a dev box."""
    if not Path(program).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed; CI must install it (.ci/run does)")
        pytest.skip(f"{program} is not installed (set CI=1 to make this a failure)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_get(port: int, target: str, host: str = "old.example") -> tuple[int, str | None]:
    """GET with the request target sent byte for byte; returns (status, Location)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    location = next((line.split(":", 1)[1].strip() for line in head[1:] if line.lower().startswith("location:")), None)
    return status, location


def wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("server did not start listening")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


PROBE_KEYS = ["default", "include", "hostnames", "volatile", "~x", "\\x", 'q"uote', "a;b{c}$d", "sp ace"]


def nginx_main(tmp: Path, *, workers: int = 1, connections: int = 64) -> str:
    """The start of an nginx config keeping every file of nginx's under ``tmp``, open at ``http {``
    (bench/verify_bench.py serves its load with more workers and connections)."""
    return f"""
daemon off;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
"""


def nginx_conf(tmp: Path, out: Path, port: int, source: str = "$request_uri", extra: str = "") -> Path:
    """A server on ``port`` with the export in ``out``; ``extra``: more lines for its ``server {}``."""
    # a probe map proves the key escaping for keys a request path cannot reach
    probe = "".join(f"    {nginx.string_key(k)} {nginx.value('hit-' + str(i) + '-$x')};\n" for i, k in enumerate(PROBE_KEYS))
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_main(tmp) + f"""    include {out}/redirects.nginx.http.conf;
    include {out}/redirects.nginx.conf;
    map $arg_probe $probe {{
        default "";
{probe}    }}
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        include {out}/redirects.nginx.server.conf;
        location = /__probe {{ return 200 "[$probe]"; }}
{extra}
        location / {{ return 404; }}
    }}
}}
""")
    return conf


def nginx_static_conf(tmp: Path, root: Path, port: int) -> Path:
    """nginx serving the files under ``root`` (with range requests, as nginx always does)."""
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_main(tmp) + f"""    types {{ text/html html; application/javascript js; application/zip wacz; }}
    server {{ listen 127.0.0.1:{port}; root {root}; }}
}}
""")
    return conf


def run_nginx(tmp: Path, conf: Path, port: int):
    test = subprocess.run([NGINX, "-t", "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    assert "could not build" not in test.stderr, test.stderr  # hash sizes from redirects.nginx.http.conf suffice
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc, tmp / "error.log")
    return proc


def apache_conf(tmp: Path, out: Path, port: int) -> Path:
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    conf = tmp / "httpd.conf"
    conf.write_text(f"""
ServerRoot {tmp}
DefaultRuntimeDir {tmp}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
LogLevel warn
Mutex file:{tmp}
{user}LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule alias_module {APACHE_MODULES}/mod_alias.so
LoadModule rewrite_module {APACHE_MODULES}/mod_rewrite.so
Listen 127.0.0.1:{port}
ServerName old.example
DocumentRoot {tmp}/htdocs
# the 10 KB old URL needs a longer request line than the default 8190 bytes
LimitRequestLine 16384
<Directory />
    AllowOverride None
</Directory>
<VirtualHost 127.0.0.1:{port}>
    ServerName old.example
    DocumentRoot {tmp}/htdocs
    Include {out}/redirects.apache.conf
</VirtualHost>
""")
    (tmp / "htdocs").mkdir(exist_ok=True)
    return conf


def run_apache(conf: Path, port: int) -> subprocess.Popen:
    """Start Apache on ``conf`` (from apache_conf) and wait until it listens."""
    proc = subprocess.Popen([APACHE, "-f", str(conf), "-DFOREGROUND"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, conf.parent / "error.log")
    except BaseException:
        stop(proc)
        raise
    return proc


PYWB_CHILD = textwrap.dedent("""
    import os, sys
    from pywb.apps.frontendapp import FrontEndApp
    from wsgiref.simple_server import make_server, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    os.chdir(sys.argv[1])
    server = make_server("127.0.0.1", 0, FrontEndApp(config_file="config.yaml"), handler_class=Quiet)
    print(server.server_port, flush=True)
    server.serve_forever()
""")


@contextlib.contextmanager
def run_pywb(root: Path):
    """Yield the port of pywb serving ``root`` (its ``config.yaml`` and ``collections/``); it prints
    the port once it listens, so there is no start-up time-out to guess."""
    pywb = subprocess.Popen([sys.executable, "-c", PYWB_CHILD, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        yield int(pywb.stdout.readline())
    finally:
        pywb.kill()
        pywb.wait()
