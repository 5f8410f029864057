import pytest

from portside.settings import SettingsError, consul_settings, parse_address


def test_defaults_without_env():
    s = consul_settings({})
    assert (s.scheme, s.host, s.port, s.token) == ("http", "127.0.0.1", 8500, None)
    assert s.address == "http://127.0.0.1:8500"


def test_env_is_read():
    s = consul_settings({
        "CONSUL_HTTP_ADDR": "consul.example:9500", "CONSUL_HTTP_TOKEN": "env-token",
        "CONSUL_CACERT": "/ca.pem", "CONSUL_CLIENT_CERT": "/c.pem", "CONSUL_CLIENT_KEY": "/k.pem",
    })
    assert (s.host, s.port, s.token) == ("consul.example", 9500, "env-token")
    assert (s.cacert, s.client_cert, s.client_key) == ("/ca.pem", "/c.pem", "/k.pem")


def test_explicit_beats_env():
    env = {"CONSUL_HTTP_ADDR": "a:1", "CONSUL_HTTP_TOKEN": "env-token", "CONSUL_CACERT": "/env-ca"}
    s = consul_settings(env, address="b:2", token="flag-token", cacert="/flag-ca")
    assert (s.host, s.port, s.token, s.cacert) == ("b", 2, "flag-token", "/flag-ca")


def test_ssl_env_switches_scheme_and_default_port():
    assert consul_settings({"CONSUL_HTTP_SSL": "true"}).address == "https://127.0.0.1:8501"
    assert consul_settings({"CONSUL_HTTP_SSL": "true", "CONSUL_HTTP_ADDR": "h:8600"}).address == "https://h:8600"
    assert consul_settings({"CONSUL_HTTP_ADDR": "https://h"}).address == "https://h:8501"


def test_ipv6_and_unix():
    assert parse_address("[::1]:8500") == ("http", "::1", 8500)
    assert consul_settings({}, address="[::1]:8500").address == "http://[::1]:8500"
    assert consul_settings({}, address="unix:///run/consul.sock").unix_socket == "/run/consul.sock"


@pytest.mark.parametrize("bad", ["", "ftp://h:1", "h:notaport", "http://:80"])
def test_bad_addresses_name_the_value(bad):
    with pytest.raises(SettingsError) as err:
        parse_address(bad)
    if bad:
        assert bad in str(err.value)


@pytest.mark.parametrize(("address", "here"), [
    ("127.0.0.1:8500", True), ("127.0.0.53:8500", True), ("[::1]:8500", True), ("localhost:8500", True),
    ("consul:8500", False), ("198.18.0.2:8500", False), ("https://consul.example:8501", False),
])
def test_an_agent_on_this_host_is_one_on_loopback(address: str, here: bool) -> None:
    assert consul_settings({}, address=address).on_this_host is here


def test_an_agent_on_a_unix_socket_is_on_this_host() -> None:
    assert consul_settings({"CONSUL_HTTP_ADDR": "unix:///run/consul.sock"}).on_this_host
