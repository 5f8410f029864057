"""The one place Consul paths are built: each caller-supplied value is one encoded segment, or refused."""

from __future__ import annotations

import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portside.consul import paths


@pytest.mark.parametrize("hostile", ["", ".", "..", "../../leave", "a/b", "../../join/127.0.0.9", "x\n", "\x00"])
def test_a_value_that_could_name_another_endpoint_is_refused_naming_it(hostile):
    with pytest.raises(paths.UnsafeSegment) as err:
        paths.agent_service_maintenance(hostile)
    assert repr(hostile) in str(err.value) and "service ID" in str(err.value)


@pytest.mark.parametrize("value,encoded", [("web-1", "web-1"), ("%2e%2e", "%252e%252e"), ("..%2f", "..%252f"),
                                           ("a b?c#d", "a%20b%3Fc%23d"), ("n:c:80:udp", "n%3Ac%3A80%3Audp")])
def test_everything_else_is_encoded_completely(value, encoded):
    assert paths.agent_service_deregister(value) == f"/v1/agent/service/deregister/{encoded}"
    assert paths.health_service(value) == f"/v1/health/service/{encoded}"


@given(st.text(max_size=40))
def test_any_string_is_refused_or_one_segment_that_decodes_back(value):
    try:
        encoded = paths.segment(value, "value")
    except paths.UnsafeSegment:
        assert value in ("", ".", "..") or "/" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
        return
    assert "/" not in encoded and ("%" not in value or "%25" in encoded)
    assert urllib.parse.unquote(encoded) == value
    assert urllib.parse.unquote(encoded) not in (".", "..")


@pytest.mark.parametrize("key,path", [("a/b/c", "/v1/kv/a/b/c"), ("a/b/", "/v1/kv/a/b/"), ("", "/v1/kv/"),
                                      ("portside/x y", "/v1/kv/portside/x%20y"), ("a/%2e%2e", "/v1/kv/a/%252e%252e")])
def test_kv_keys_keep_their_slashes(key, path):
    assert paths.kv(key) == path


@pytest.mark.parametrize("key", ["../x", "a/../b", "a/./b", "a//b", "/a", "a/..", "/"])
def test_kv_keys_with_dot_or_empty_segments_are_refused(key):
    with pytest.raises(paths.UnsafeSegment) as err:
        paths.kv(key)
    assert repr(key) in str(err.value)
