"""The REGISTRY_URI (backends, as gliderlabs names them) and the Consul KV backend's key layout and value."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner

from portside.consul import paths
from registrator.cli import cli
from registrator.registry import (
    KVDecision,
    Registry,
    RegistryError,
    kv_decision,
    kv_key,
    kv_marker,
    kv_value,
    parse_registry,
)


@pytest.mark.parametrize(("uri", "want"), [
    (None, Registry(None)),
    ("consul://127.0.0.2:8600", Registry("http://127.0.0.2:8600")),
    ("consul://", Registry("http://127.0.0.1:8500")),
    ("consul-tls://h:8501", Registry("https://h:8501")),
    ("consul-unix:///run/consul.sock", Registry("unix:///run/consul.sock")),
    ("consulkv://127.0.0.2:8600/services", Registry("http://127.0.0.2:8600", "services")),
    ("consulkv:///services", Registry("http://127.0.0.1:8500", "services")),  # no address: gliderlabs' default
    ("consulkv://h:1/a/b", Registry("http://h:1", "a/b")),
    ("consulkv-unix:///run/consul.sock:/services", Registry("unix:///run/consul.sock", "services")),
    ("consulkv-unix:///run/consul.sock:/a/b", Registry("unix:///run/consul.sock", "a/b")),
])
def test_registry_uris(uri: str | None, want: Registry) -> None:
    assert parse_registry(uri) == want


@pytest.mark.parametrize("uri", [
    "consulkv://h:1", "consulkv://h:1/", "consulkv://h:1/a/", "consulkv://h:1/a//b", "consulkv://h:1/a/../b",
    "consulkv://h:1/./a", "consulkv-unix:///run/consul.sock", "consulkv-unix://:/services",
    "consulkv-unix:///run/consul.sock:/",
])
def test_kv_uris_without_a_usable_prefix_are_refused(uri: str) -> None:
    with pytest.raises(RegistryError, match="supported: consul://host:port"):
        parse_registry(uri)


@pytest.mark.parametrize("scheme", ["etcd", "skydns2", "zookeeper", "etcd2", "nosuch"])
def test_other_backends_get_one_error_naming_the_supported_uris(scheme: str) -> None:
    result = CliRunner().invoke(cli, [f"{scheme}://127.0.0.1:2379/x"])
    assert result.exit_code == 2
    for form in ("consul://host:port", "consul-tls://", "consul-unix://", "consulkv://host:port/prefix",
                 "consulkv-unix:///path.sock:/prefix"):
        assert form in result.output


def test_kv_key_layout_and_value() -> None:
    assert kv_key("services", "web", "host-a:web-1:80") == "services/web/host-a:web-1:80"
    assert kv_key("a/b", "api.v1", "x:y:53:udp") == "a/b/api.v1/x:y:53:udp"
    assert kv_value("127.0.0.1", 8080) == "127.0.0.1:8080"
    assert kv_value("::1", 80) == "[::1]:80"  # as Go's net.JoinHostPort
    assert kv_value("", 80) == ":80"  # -internal on host network: gliderlabs' empty address
    # what goes on the wire: each segment fully encoded, the `/` between them kept
    assert paths.kv(kv_key("services", "web", "h:c:80")) == "/v1/kv/services/web/h%3Ac%3A80"


@pytest.mark.parametrize(("name", "sid"), [
    ("..", "id"), (".", "id"), ("", "id"), ("a/b", "id"), ("web", "../x"), ("web", "a/b"), ("web", "."),
    ("web", ""), ("web", "x\n"), ("../../v1/agent/leave", "id"),
])
def test_a_name_or_id_that_is_not_one_key_segment_is_refused(name: str, sid: str) -> None:
    with pytest.raises(paths.UnsafeSegment):
        kv_key("services", name, sid)


def test_kv_decision() -> None:
    mark = kv_marker("n")
    assert mark != kv_marker("m") and 0 < mark < 2**64

    def entry(flags: int, value: str = "127.0.0.1:80", index: object = 7) -> dict:
        return {"Flags": flags, "ModifyIndex": index, "Value": base64.b64encode(value.encode()).decode()}

    assert kv_decision(None, marker=mark, value="127.0.0.1:80", adopt=False) == KVDecision("put", 0)
    assert kv_decision(entry(mark), marker=mark, value="127.0.0.1:80", adopt=False) == KVDecision("keep")
    assert kv_decision(entry(mark, "127.0.0.1:1"), marker=mark, value="127.0.0.1:80", adopt=False) == \
        KVDecision("put", 7)
    assert kv_decision(entry(0), marker=mark, value="127.0.0.1:80", adopt=True) == KVDecision("put", 7)
    for flags, adopt in ((0, False), (kv_marker("m"), True), (12, True)):
        assert kv_decision(entry(flags), marker=mark, value="127.0.0.1:80", adopt=adopt).action == "refuse"
    for index in (None, 0, True, "7"):
        assert kv_decision(entry(mark, index=index), marker=mark, value="x", adopt=True).action == "refuse"
    assert kv_decision({"Flags": mark, "ModifyIndex": 3, "Value": "%%"}, marker=mark, value="x", adopt=False) == \
        KVDecision("put", 3)
