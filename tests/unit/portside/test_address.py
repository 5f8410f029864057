"""portside.address: one parser and printer for host:port."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portside.address import Address, AddressError, hostport


@pytest.mark.parametrize("text,kw,host,port", [
    ("127.0.0.1:8600", {}, "127.0.0.1", 8600),
    ("  consul.service:8500 ", {}, "consul.service", 8500),
    ("[::1]:53", {}, "::1", 53),
    ("[fe80::1%eth0]:53", {}, "fe80::1%eth0", 53),
    ("198.18.0.53", {"default_port": 53}, "198.18.0.53", 53),
    ("::1", {"default_port": 53}, "::1", 53),
    ("[::1]", {"default_port": 53}, "::1", 53),
    ("consul", {"default_port": 8500}, "consul", 8500),
    (":8600", {"default_host": "0.0.0.0"}, "0.0.0.0", 8600),
    ("my_service-1.example.:80", {}, "my_service-1.example.", 80),
])
def test_accepted_forms(text, kw, host, port):
    assert Address.parse(text, **kw) == Address(host, port)


@pytest.mark.parametrize("text", ["off", "OFF", "", "  "])
def test_off_is_none_where_allowed_and_refused_elsewhere(text):
    assert Address.parse(text, allow_off=True) is None
    with pytest.raises(AddressError):
        Address.parse(text, flag="--listen")


@pytest.mark.parametrize("text,why", [
    ("1.2.3.4:99999", "port must be 1-65535"), ("1.2.3.4:0", "port must be 1-65535"),
    ("host:http", "port must be 1-65535"), ("1.2.3.4:٥٣", "port must be 1-65535"),
    ("1.2.3.4", "no port"), (":8600", "no host"), ("[::1", "without ']'"), ("[::1]x", "[IPv6]:port"),
    ("[1.2.3.4]:80", "IPv6 addresses only"), ("::zz", "not an IPv6 address"), ("bad host:80", "neither"),
    ("a..b:80", "neither"), ("-x:80", "neither"), ("1.2.3.999:80", "neither"), ("x/y:80", "neither"),
])
def test_refusals_name_the_flag_and_the_value(text, why):
    with pytest.raises(AddressError) as err:
        Address.parse(text, flag="--http-addr")
    assert str(err.value).startswith(f"--http-addr {text!r}: ") and why in str(err.value)


def test_printing_brackets_ipv6_and_urls():
    assert str(Address("::1", 8500)) == "[::1]:8500" == hostport("::1", 8500)
    assert Address("127.0.0.1", 9600).url("http", "/health") == "http://127.0.0.1:9600/health"
    assert Address("0.0.0.0", 9600).connectable() == Address("127.0.0.1", 9600)
    assert Address("::", 9600).connectable() == Address("::1", 9600)
    assert Address("consul", 1).ip is None and Address("::1", 1).is_ipv6


hosts = st.one_of(
    st.ip_addresses().map(str),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,3}", fullmatch=True)
    .filter(lambda h: not h.replace(".", "").isdigit()),
)


@given(hosts, st.integers(1, 65535))
def test_round_trip(host, port):
    a = Address(host, port)
    assert Address.parse(str(a)) == a
    assert Address.parse(a.url("http")[len("http://"):]) == a


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        a = Address.parse(text, default_port=1, allow_off=True, default_host="0.0.0.0")
    except AddressError as exc:
        assert repr(text) in str(exc)
        return
    if a is not None:
        assert Address.parse(str(a)) == a
        if a.ip is not None:
            assert ipaddress.ip_address(a.host)
