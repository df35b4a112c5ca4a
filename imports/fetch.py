"""Getting an import's file: a Roster upload is copied from storage; an http(s) URL is downloaded.

Invariant: unless settings.IMPORT_ALLOW_PRIVATE_URLS, a download only ever opens a connection to a public unicast
address. The check is made on the address the connection is pinned to (requests-hardened resolves the name once and
connects to that very address, so DNS rebinding cannot swap it after the check), and on every redirect hop.
"""

import ipaddress
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from imports.errors import InvalidImportFile

MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 10
MAX_READ_WAIT_SECONDS = 30
USER_AGENT = "Roster-Import/1.0"

UPLOAD_SCHEME_PREFIX = "upload://"
UPLOAD_PATH = re.compile(r"^/api/uploads/(?P<public_id>upl_[A-Za-z0-9]+)/file/?$")
UPLOAD_REFERENCE = re.compile(r"^upload://(?P<public_id>upl_[A-Za-z0-9]+)/?$")
# A host made only of digits, dots and hex prefixes is an IP address, and only the canonical dotted quad is accepted:
# `2130706433`, `0177.0.0.1`, `0x7f.1` or `127.1` all mean 127.0.0.1 to the resolver but hide it from a reader.
NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.IGNORECASE)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def upload_file_url(public_id: str) -> str:
    """The `file_url` an upload answers with; fetch_import_file() reads it from storage, never over HTTP."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/api/uploads/{public_id}/file"


def upload_public_id_for(file_url: str) -> str | None:
    """The upload a `file_url` refers to (`upload://upl_x` or `{PUBLIC_BASE_URL}/api/uploads/upl_x/file`), or None."""
    if match := UPLOAD_REFERENCE.match(file_url):
        return match["public_id"]
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if file_url.startswith(base + "/"):
        if match := UPLOAD_PATH.match(file_url[len(base) :].split("?", 1)[0]):
            return match["public_id"]
    return None


def fetch_import_file(file_url: str, destination: Path) -> Path:
    """Write the file behind `file_url` to `destination` (created) and return it.

    Raises InvalidImportFile naming the reason: unknown upload, bad scheme, refused address, DNS failure, HTTP error,
    too many redirects, too big (settings.IMPORT_MAX_BYTES), or too slow (settings.IMPORT_FETCH_TIMEOUT_SECONDS)."""
    file_url = (file_url or "").strip()
    destination.parent.mkdir(parents=True, exist_ok=True)
    if (public_id := upload_public_id_for(file_url)) is not None:
        return _copy_upload(public_id, destination)
    if file_url.startswith(UPLOAD_SCHEME_PREFIX):
        raise InvalidImportFile(f"{file_url!r} is not an upload reference; expected upload://upl_...")
    try:
        _download(file_url, destination)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return destination


def _copy_upload(public_id: str, destination: Path) -> Path:
    from imports.models import Upload

    upload = Upload.objects.filter(public_id=public_id).first()
    if upload is None or not upload.file:
        raise InvalidImportFile(f"Upload {public_id} does not exist")
    try:
        with upload.file.open("rb") as source, destination.open("wb") as target:
            shutil.copyfileobj(source, target, CHUNK_BYTES)
    except FileNotFoundError:
        destination.unlink(missing_ok=True)
        raise InvalidImportFile(f"The file of upload {public_id} is missing from storage") from None
    return destination


def _private_addresses_allowed() -> bool:
    # Read on every hop, not once per download, so a test can allow the first hop and refuse a redirect.
    return bool(settings.IMPORT_ALLOW_PRIVATE_URLS)


def is_public_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast, judging an IPv4-mapped IPv6 address (::ffff:127.0.0.1) by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast and not address.is_reserved


class PublicAddressAdapter(IPFilterAdapter):
    """requests-hardened's adapter (resolve once, refuse private and loopback ranges, connect to the address it
    checked) with a stricter second look at that pinned address: it must be globally routable unicast."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):  # noqa: ANN001, ANN201 - requests'
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = ipaddress.ip_address(host_params["host"].strip("[]"))
        if not is_public_unicast(address):
            raise InvalidIPAddress(address)
        return host_params, pool_kwargs


def _session(*, allow_private: bool) -> requests.Session:
    session = HTTPSession(
        Config(
            ip_filter_enable=not allow_private,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(CONNECT_TIMEOUT_SECONDS, settings.IMPORT_FETCH_TIMEOUT_SECONDS),
            user_agent_override=USER_AGENT,
        )
    )
    if not allow_private:
        session.mount("http://", PublicAddressAdapter(is_https_proto=False))
        session.mount("https://", PublicAddressAdapter(is_https_proto=True))
    # Proxies from the environment would be connected to instead of the checked address.
    session.trust_env = False
    return session


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidImportFile(f"file_url {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidImportFile(
            f"file_url must be an http(s) URL or an upload's file_url, not {parts.scheme or 'a relative'} URL"
        )
    host = parts.hostname or ""
    if not host:
        raise InvalidImportFile(f"file_url {url!r} has no host")
    if parts.username or parts.password:
        raise InvalidImportFile("file_url must not carry credentials")
    if NUMERIC_HOST.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidImportFile(
                f"file_url host {host!r} is an IP address written in a non-standard form; use a dotted quad"
            ) from None


def _download(url: str, destination: Path) -> None:
    limit = settings.IMPORT_MAX_BYTES
    deadline = time.monotonic() + settings.IMPORT_FETCH_TIMEOUT_SECONDS
    for _hop in range(MAX_REDIRECTS + 1):
        _check_url(url)
        allow_private = _private_addresses_allowed()
        with _session(allow_private=allow_private) as session:
            try:
                # Each socket read waits at most until the deadline (and 30 s), so a stalled server is let go of.
                read_timeout = min(MAX_READ_WAIT_SECONDS, max(deadline - time.monotonic(), 0.1))
                response = session.get(
                    url, stream=True, allow_redirects=False, timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout)
                )
            except InvalidIPAddress as error:
                raise InvalidImportFile(
                    f"file_url {url!r} resolves to {error}, which is not a public address; "
                    "imports only fetch from the public internet"
                ) from None
            except requests.exceptions.Timeout:
                raise _timed_out(url) from None
            except requests.exceptions.ConnectionError as error:
                reason = "cannot resolve the host" if _is_dns_failure(error) else "cannot connect"
                raise InvalidImportFile(f"Cannot fetch {url!r}: {reason}") from None
            except requests.exceptions.RequestException as error:
                raise InvalidImportFile(f"Cannot fetch {url!r}: {type(error).__name__}") from None
            with response:
                if response.status_code in REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise InvalidImportFile(f"{url!r} answered a redirect without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status_code >= 400:
                    raise InvalidImportFile(f"{url!r} answered HTTP {response.status_code}")
                if response.status_code != 200:
                    raise InvalidImportFile(f"{url!r} answered HTTP {response.status_code} instead of a file")
                _stream_to(response, destination, limit=limit, deadline=deadline, url=url)
                return
    raise InvalidImportFile(f"file_url redirects more than {MAX_REDIRECTS} times")


def _stream_to(response: requests.Response, destination: Path, *, limit: int, deadline: float, url: str) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise InvalidImportFile(f"The file at {url!r} is {int(declared)} bytes; the limit is {limit}")
    written = 0
    try:
        with destination.open("wb") as target:
            # read1 answers with whatever has arrived, so a server dripping bytes cannot hold a read past the deadline.
            while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):
                written += len(chunk)
                if written > limit:
                    raise InvalidImportFile(f"The file at {url!r} is larger than the limit of {limit} bytes")
                if time.monotonic() > deadline:
                    raise _timed_out(url)
                target.write(chunk)
    except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        raise _timed_out(url) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise InvalidImportFile(f"The download of {url!r} broke off: {type(error).__name__}") from None
    except requests.exceptions.RequestException as error:
        # requests reports a read timeout in the middle of the body as a ConnectionError.
        if "timed out" in str(error).lower():
            raise _timed_out(url) from None
        raise InvalidImportFile(f"The download of {url!r} broke off: {type(error).__name__}") from None


def _timed_out(url: str) -> InvalidImportFile:
    return InvalidImportFile(
        f"The download of {url!r} took longer than {settings.IMPORT_FETCH_TIMEOUT_SECONDS} seconds"
    )


def _is_dns_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if "resolve" in str(seen).lower() or "name or service not known" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False
