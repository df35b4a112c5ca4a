import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from imports import fetch
from imports.errors import InvalidImportFile
from imports.fetch import fetch_import_file

CSV_BYTES = b"email,first_name\nada@example.com,Ada\nbob@example.com,Bob\n"


class LocalServer:
    """A tiny HTTP server on 127.0.0.1 recording the paths it was asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits.append(unquote(self.path))
                route = unquote(self.path.split("?")[0])
                if route == "/file.csv":
                    self._send(200, CSV_BYTES)
                elif route.startswith("/redirect-to/"):
                    self.send_response(302)
                    self.send_header("Location", route.removeprefix("/redirect-to/").replace("|", "/"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif route.startswith("/hops/"):
                    left = int(route.removeprefix("/hops/"))
                    self.send_response(302)
                    self.send_header("Location", f"/hops/{left - 1}" if left else "/file.csv")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif route == "/endless":
                    # No Content-Length: the size limit must hold mid-stream.
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(1000):
                            self.wfile.write(b"x" * 8192)
                    except OSError:
                        pass
                elif route == "/declared-huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**12))
                    self.end_headers()
                elif route == "/stall":
                    time.sleep(3)
                    self._send(200, CSV_BYTES)
                elif route == "/slow":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(40):
                            self.wfile.write(b"email\n")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                else:
                    self._send(404, b"not found")

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up, as some tests mean it to

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()
    local.thread.start()
    yield local
    local.httpd.shutdown()
    local.httpd.server_close()


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    return tmp_path / "fetched" / "file.csv"


@pytest.fixture
def private_allowed(settings):
    settings.IMPORT_ALLOW_PRIVATE_URLS = True


def refused(url: str, destination: Path) -> str:
    with pytest.raises(InvalidImportFile) as caught:
        fetch_import_file(url, destination)
    assert not destination.exists()
    return caught.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_loopback_is_refused_before_any_request(server, destination, host):
    message = refused(server.url("/file.csv", host), destination)
    assert "not a public address" in message
    assert server.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/file.csv",
        "http://172.16.0.1/file.csv",
        "http://192.168.1.1/file.csv",
        "http://100.64.0.1/file.csv",
        "http://0.0.0.0/file.csv",
        "http://[::1]/file.csv",
        "http://[::]/file.csv",
        "http://[fe80::1]/file.csv",
        "http://[fd00::1]/file.csv",
        "http://224.0.0.1/file.csv",
        "http://[0:0:0:0:0:ffff:7f00:1]/file.csv",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/file.csv",
        "http://[2002:7f00:1::]/file.csv",
    ],
)
def test_private_link_local_shared_and_unspecified_addresses_are_refused(destination, url):
    assert "not a public address" in refused(url, destination)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://017700000001/",
        "http://0/",
        "http://169.254.43518/",
    ],
)
def test_numeric_hosts_in_non_standard_forms_are_refused(destination, url):
    assert "non-standard form" in refused(url, destination)


def test_numeric_hosts_are_refused_even_when_private_urls_are_allowed(private_allowed, server, destination):
    assert "non-standard form" in refused(f"http://2130706433:{server.port}/file.csv", destination)
    assert server.hits == []


def test_a_name_resolving_to_loopback_is_refused_at_connection_time(server, destination, monkeypatch):
    # A public-looking name whose DNS answers 127.0.0.1 (rebinding): the address actually connected to is checked.
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host == "files.example.com":
            asked.append(host)
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    message = refused(server.url("/file.csv", "files.example.com"), destination)
    assert "127.0.0.1" in message and "not a public address" in message
    assert asked
    assert server.hits == []


def test_resolution_happens_once_so_the_checked_address_is_the_one_connected_to(server, destination, monkeypatch):
    # If the fetcher resolved twice (check, then connect), the second answer could differ; it must resolve once.
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.1", "127.0.0.1"])
    calls: list[str] = []

    def counting_getaddrinfo(host, port, *args, **kwargs):
        if host == "files.example.com":
            calls.append(host)
            return real_getaddrinfo(next(answers), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting_getaddrinfo)
    refused(server.url("/file.csv", "files.example.com"), destination)
    assert calls == ["files.example.com"]


def test_every_redirect_is_checked(server, destination, monkeypatch):
    # The first hop is allowed (standing in for a public server); its redirect to loopback must be refused.
    hops = iter([True, False])
    monkeypatch.setattr(fetch, "_private_addresses_allowed", lambda: next(hops))
    target = server.url("/file.csv").replace("/", "|")
    message = refused(server.url(f"/redirect-to/{target}"), destination)
    assert "not a public address" in message
    assert server.hits == [f"/redirect-to/{target}"]


def test_a_redirect_to_the_metadata_address_is_refused(server, destination, monkeypatch):
    hops = iter([True, False])
    monkeypatch.setattr(fetch, "_private_addresses_allowed", lambda: next(hops))
    message = refused(server.url("/redirect-to/http:||169.254.169.254|latest|meta-data|"), destination)
    assert "169.254.169.254" in message


def test_a_redirect_to_another_scheme_is_refused(private_allowed, server, destination):
    message = refused(server.url("/redirect-to/file:|||etc|passwd"), destination)
    assert "http(s)" in message


def test_at_most_three_redirects_are_followed(private_allowed, server, destination):
    assert fetch_import_file(server.url("/hops/2"), destination).read_bytes() == CSV_BYTES
    assert "more than 3" in refused(server.url("/hops/3"), destination)


def test_a_local_server_is_fetched_when_private_urls_are_allowed(private_allowed, server, destination):
    result = fetch_import_file(server.url("/file.csv"), destination)
    assert result == destination
    assert destination.read_bytes() == CSV_BYTES
    assert server.hits == ["/file.csv"]


def test_the_size_limit_holds_mid_stream(private_allowed, server, destination, settings):
    settings.IMPORT_MAX_BYTES = 100_000
    message = refused(server.url("/endless"), destination)
    assert "larger than the limit of 100000 bytes" in message


def test_a_declared_size_over_the_limit_is_refused_before_reading(private_allowed, server, destination):
    assert "the limit is" in refused(server.url("/declared-huge"), destination)


def test_a_download_slower_than_the_time_limit_is_abandoned(private_allowed, server, destination, settings):
    settings.IMPORT_FETCH_TIMEOUT_SECONDS = 1
    started = time.monotonic()
    assert "took longer than 1 seconds" in refused(server.url("/slow"), destination)
    assert time.monotonic() - started < 3


def test_a_server_that_never_answers_is_abandoned(private_allowed, server, destination, settings):
    settings.IMPORT_FETCH_TIMEOUT_SECONDS = 1
    started = time.monotonic()
    assert "took longer than 1 seconds" in refused(server.url("/stall"), destination)
    assert time.monotonic() - started < 2.5


def test_an_http_error_status_is_reported(private_allowed, server, destination):
    assert "HTTP 404" in refused(server.url("/missing.csv"), destination)


def test_a_host_that_does_not_resolve_is_reported(destination):
    assert "cannot resolve the host" in refused("http://roster-test.invalid/file.csv", destination)


@pytest.mark.parametrize("url", ["ftp://example.com/file.csv", "file:///etc/passwd", "gopher://x/", "/etc/passwd", ""])
def test_other_schemes_are_refused(destination, url):
    assert "http(s) URL" in refused(url, destination)


def test_credentials_in_the_url_are_refused(destination):
    assert "credentials" in refused("http://user:secret@example.com/file.csv", destination)


@pytest.mark.django_db
def test_an_unknown_upload_is_reported(destination, settings):
    assert "does not exist" in refused("upload://upl_doesnotexist", destination)
    assert "does not exist" in refused(f"{settings.PUBLIC_BASE_URL}/api/uploads/upl_nothere/file", destination)
