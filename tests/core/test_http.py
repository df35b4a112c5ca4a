from django.test import RequestFactory, override_settings

from core.http import client_ip


def request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_connecting_address_counts():
    assert client_ip(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


@override_settings(TRUSTED_PROXY_HOPS=1)
def test_behind_one_proxy_the_address_it_appended_counts_and_client_claims_do_not():
    assert client_ip(request("10.0.0.2", "6.6.6.6, 198.51.100.1")) == "198.51.100.1"
    assert client_ip(request("10.0.0.2")) == "10.0.0.2"  # no header: the connecting address


@override_settings(TRUSTED_PROXY_HOPS=2)
def test_behind_two_proxies():
    assert client_ip(request("10.0.0.3", "198.51.100.1, 10.0.0.2")) == "198.51.100.1"


def test_garbage_is_no_address():
    assert client_ip(request("not-an-ip")) is None
