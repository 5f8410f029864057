"""Env mode's pure part: KV prefixes and services -> variables, what is awaited, what is refused."""

from __future__ import annotations

import base64

from consul_templates.config import EnvModeSpec
from consul_templates.envmode import dependencies, environment
from consul_templates.functions import KEYS, SERVICE, Dependency


def kv(prefix: str, pairs: dict[str, str]) -> tuple[Dependency, object]:
    dep = Dependency(KEYS, prefix)
    raw = [{"Key": f"{prefix}/{k}", "Value": base64.b64encode(v.encode()).decode()} for k, v in pairs.items()]
    return dep, dep.decode(raw)


def web(*hostports: tuple[str, int]) -> tuple[Dependency, object]:
    dep = Dependency(SERVICE, "web", passing=True)
    raw = [{"Node": {"Node": "n", "Address": "127.0.0.1"},
            "Service": {"ID": f"w{i}", "Service": "web", "Address": a, "Port": p}, "Checks": []}
           for i, (a, p) in enumerate(hostports)]
    return dep, dep.decode(raw)


def test_prefixes_and_services_become_variables() -> None:
    spec = EnvModeSpec(prefixes=("app/base", "app/prod/"), services=("web",), upcase=True)
    store = dict([kv("app/base", {"db/host": "h1", "port": "5432", "mode": "base"}), kv("app/prod", {"mode": "prod"}),
                  web(("127.0.0.2", 81), ("127.0.0.1", 80))])
    result = environment(spec, store)
    assert result.env == {"DB_HOST": "h1", "PORT": "5432", "MODE": "prod", "WEB_ADDR": "127.0.0.1:80,127.0.0.2:81"}
    assert not result.waiting and not result.refused
    assert dependencies(spec) == [Dependency(KEYS, "app/base"), Dependency(KEYS, "app/prod"),
                                  Dependency(SERVICE, "web", passing=True)]


def test_never_half_a_configuration() -> None:
    spec = EnvModeSpec(prefixes=("app/a", "app/b"), services=("web",))
    store = dict([kv("app/a", {"x": "1"}), web()])
    result = environment(spec, store)
    assert result.env is None and result.waiting == ("prefix 'app/b'",)
    store.update([kv("app/b", {})])  # answered, but nothing there: still missing
    assert environment(spec, store).env is None
    store.update([kv("app/b", {"y": "2"})])
    assert environment(spec, store).env == {"x": "1", "y": "2", "WEB_ADDR": ""}


def test_hostile_keys_and_values_are_refused_one_by_one() -> None:
    spec = EnvModeSpec(prefixes=("app",), sanitize=False)
    store = dict([kv("app", {"LD_PRELOAD": "/tmp/evil.so", "PATH": "/tmp", "CONSUL_HTTP_TOKEN": "t", "bad name": "x",
                             "NUL": "a\x00b", "GOOD": "multi\nline is fine", "ld_library_path": "/x"})])
    result = environment(spec, store)
    assert result.env == {"GOOD": "multi\nline is fine"}
    refused = " ".join(result.refused)
    for key in ("LD_PRELOAD", "PATH", "CONSUL_HTTP_TOKEN", "bad name", "NUL", "ld_library_path"):
        assert f"'app/{key}'" in refused


def test_sanitize_and_upcase() -> None:
    store = dict([kv("p", {"a-b.c": "1", "9lives": "2"})])
    assert environment(EnvModeSpec(prefixes=("p",)), store).env == {"a_b_c": "1"}  # 9lives is no variable name
    assert environment(EnvModeSpec(prefixes=("p",), upcase=True), store).env == {"A_B_C": "1"}


def test_a_hostile_service_address_is_dropped() -> None:
    store = dict([web(("127.0.0.1", 80), ("1.2.3.4,evil", 1))])
    result = environment(EnvModeSpec(services=("web",)), store)
    assert result.env == {"WEB_ADDR": "127.0.0.1:80"} and "w1" in result.refused[0]
