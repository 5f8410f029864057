from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from registrator.config import Config
from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, default_name, services_for, split_tags
from tests.support.inspect_fixtures import make_container

CFG = Config(node_id="host-a", ip="127.0.0.1")


def one(container, cfg=CFG):
    services, problems = services_for(container, cfg)
    assert problems == []
    assert len(services) == 1
    return services[0]


def test_defaults_name_id_address_port(container):
    s = one(container())
    assert s.name == "nginx"
    assert s.id == "host-a:web1:80"
    assert (s.address, s.port) == ("127.0.0.1", 32768)
    assert s.meta[OWNER_NODE] == "host-a" and s.meta[OWNER_CONTAINER].startswith("c0ffee")
    assert s.checks == ()


def test_label_beats_env_and_port_key_beats_generic(container):
    c = container(env=["SERVICE_NAME=from-env", "SERVICE_TAGS=e", "SERVICE_80_VERSION=port", "SERVICE_VERSION=g"],
                  labels={"SERVICE_NAME": "from-label"})
    s = one(c)
    assert s.name == "from-label"
    assert s.tags == ("e",)
    assert s.meta["version"] == "port"


def test_tags_escaped_commas_and_forced_tags(container):
    s = one(container(labels={"SERVICE_TAGS": r"a, b\,c ,,d"}), Config(node_id="n", ip="127.0.0.1", tags=("x",)))
    assert s.tags == ("a", "b,c", "d", "x")
    assert split_tags(r"\,") == [","]


def test_unknown_keys_become_meta_lowercase_and_checks_are_not_meta(container):
    s = one(container(labels={"SERVICE_OWNER_TEAM": "payments", "SERVICE_CHECK_TCP": "true"}))
    assert s.meta["owner_team"] == "payments"
    assert "check_tcp" not in s.meta
    assert s.checks[0]["TCP"] == "127.0.0.1:32768"


def test_several_ports_get_suffix_unless_port_named(container):
    c = container(exposed=["80/tcp", "443/tcp", "53/udp"],
                  published={"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                             "443/tcp": [{"HostIp": "", "HostPort": "8443"}],
                             "53/udp": [{"HostIp": "", "HostPort": "5353"}]},
                  labels={"SERVICE_NAME": "app", "SERVICE_443_NAME": "secure"})
    services, problems = services_for(c, CFG)
    assert problems == []
    by_port = {s.port: s for s in services}
    assert by_port[8080].name == "app-80"
    assert by_port[8443].name == "secure"
    assert by_port[5353].name == "app-53" and "udp" in by_port[5353].tags
    assert by_port[5353].id == "host-a:web1:53:udp"


def test_unpublished_ports_skipped_unless_internal(container):
    c = container(exposed=["80/tcp", "9000/tcp"], published={"80/tcp": [{"HostIp": "", "HostPort": "32768"}]})
    assert [s.port for s in services_for(c, CFG)[0]] == [32768]
    internal = services_for(c, Config(node_id="n", internal=True))[0]
    assert [(s.address, s.port) for s in internal] == [("198.18.0.5", 80), ("198.18.0.5", 9000)]


def test_internal_network_choice_is_deterministic_and_ipv6_tagged(container):
    nets = {"zeta": {"IPAddress": "198.18.70.2"}, "alpha": {"IPAddress": "198.18.64.2", "GlobalIPv6Address": "fd00::2"}}
    c = container(networks=nets)
    s = one(c, Config(node_id="n", internal=True))
    assert s.address == "198.18.64.2"
    assert s.tagged_addresses["lan_ipv6"]["Address"] == "fd00::2"
    assert one(c, Config(node_id="n", internal=True, network="zeta")).address == "198.18.70.2"
    services, problems = services_for(c, Config(node_id="n", internal=True, network="nope"))
    assert services == [] and "not on network 'nope'" in problems[0].reason
    v6only = container(networks={"v6": {"IPAddress": "", "GlobalIPv6Address": "fd00::9"}})
    assert one(v6only, Config(node_id="n", internal=True)).address == "fd00::9"


def test_host_ip_used_when_specific_else_flag_else_fallback(container):
    c = container(published={"80/tcp": [{"HostIp": "127.0.0.9", "HostPort": "81"}]})
    assert one(c, Config(node_id="n")).address == "127.0.0.9"
    assert one(c, Config(node_id="n", ip="127.0.0.1")).address == "127.0.0.1"
    assert one(container(), Config(node_id="n", host_ip="127.0.0.3")).address == "127.0.0.3"


def test_ignore_and_explicit(container):
    assert services_for(container(labels={"SERVICE_IGNORE": "1"}), CFG) == ([], [])
    assert services_for(container(), Config(node_id="n", ip="127.0.0.1", explicit=True)) == ([], [])
    assert one(container(labels={"SERVICE_NAME": "x"}), Config(node_id="n", ip="127.0.0.1", explicit=True)).name == "x"


def test_service_id_override(container):
    assert one(container(labels={"SERVICE_ID": "my-id"})).id == "my-id"


def test_ip_from_label_strips_cidr(container):
    c = container(labels={"ip": "198.18.9.9/24"})
    assert one(c, Config(node_id="n", ip="127.0.0.1", ip_from_label="ip")).address == "198.18.9.9"


def test_host_network_registers_only_named_ports(container):
    c = container(network_mode="host", exposed=["80/tcp", "9100/tcp"], published={}, networks={},
                  labels={"SERVICE_80_NAME": "web"})
    services, _ = services_for(c, Config(node_id="n", ip="127.0.0.1"))
    assert [(s.name, s.port) for s in services] == [("web", 80)]
    assert services_for(container(network_mode="host", exposed=["80/tcp", "9100/tcp"], published={}),
                        CFG) == ([], [])


def test_odd_containers_without_env_labels_ports(container):
    c = container(env=None, labels=None, exposed=[], published={})
    c["Config"]["ExposedPorts"] = None
    c["NetworkSettings"]["Ports"] = None
    c["Config"]["Cmd"] = None
    assert services_for(c, CFG) == ([], [])
    del c["Config"]
    assert services_for(c, CFG) == ([], [])


def test_default_name_sanitised():
    assert default_name("registry:5000/a/b/my_app.v2:1.0") == "my-app-v2"
    assert default_name("sha256@abc") == "sha256"


def test_docker_healthcheck_becomes_ttl_check(container):
    s = one(container(healthcheck=["CMD", "true"], health_status="healthy"))
    assert s.docker_health
    check = s.checks[-1]
    assert check["CheckID"] == "host-a:web1:80:docker-health" and check["Status"] == "passing"
    assert one(container(healthcheck=["NONE"])).docker_health is False


# ---- bad input: the one service is skipped, with a problem naming container, key and value ----
def bad(container, container_kwargs, key):
    services, problems = services_for(container(**container_kwargs), CFG)
    assert services == []
    assert len(problems) == 1
    p = problems[0]
    assert p.container == "web1" and p.key == key
    assert "web1" in str(p) and key in str(p)
    return p


def test_bad_interval(container):
    labels = {"SERVICE_CHECK_HTTP": "/h", "SERVICE_CHECK_INTERVAL": "abc"}
    p = bad(container, {"labels": labels}, "SERVICE_CHECK_INTERVAL")
    assert p.value == "abc"


def test_port_key_not_a_port(container):
    bad(container, {"labels": {"SERVICE_99999_NAME": "x"}}, "SERVICE_99999_NAME")


def test_name_not_dns(container):
    bad(container, {"labels": {"SERVICE_NAME": "bad name!"}}, "SERVICE_NAME")


def test_oversized_label(container):
    bad(container, {"labels": {"SERVICE_TAGS": "x" * 5000}}, "SERVICE_TAGS")


def test_newline_in_value(container):
    bad(container, {"labels": {"SERVICE_TAGS": "a\nb"}}, "SERVICE_TAGS")


def test_bad_meta_key(container):
    bad(container, {"labels": {"SERVICE_FOO.BAR": "1"}}, "SERVICE_FOO.BAR")


def test_bad_meta_key_is_named_as_written(container):
    # "ß".upper() == "SS": the key in the log line must be the one the user wrote, not a round trip of it
    bad(container, {"labels": {"SERVICE_STRAßE": "1"}}, "SERVICE_STRAßE")
    bad(container, {"env": ["SERVICE_80_STRAßE=1"]}, "SERVICE_80_STRAßE")


def test_meta_value_over_consuls_limit(container):
    # Consul refuses a meta value over 512 bytes (and with it the whole registration): say so, naming the key
    bad(container, {"labels": {"SERVICE_NOTE": "é" * 257}}, "SERVICE_NOTE")
    assert one(container(labels={"SERVICE_NOTE": "é" * 256})).meta["note"] == "é" * 256


def test_one_bad_port_does_not_skip_the_other(container):
    c = container(exposed=["80/tcp", "81/tcp"],
                  published={"80/tcp": [{"HostIp": "", "HostPort": "1080"}],
                             "81/tcp": [{"HostIp": "", "HostPort": "1081"}]},
                  labels={"SERVICE_81_CHECK_TTL": "soon"})
    services, problems = services_for(c, CFG)
    assert [s.port for s in services] == [1080]
    assert problems[0].key == "SERVICE_81_CHECK_TTL" and problems[0].value == "soon"


# ---- hypothesis: any label values -> never an exception; every service is well-formed ----
keys = st.sampled_from(["SERVICE_NAME", "SERVICE_TAGS", "SERVICE_ID", "SERVICE_80_NAME", "SERVICE_CHECK_HTTP",
                        "SERVICE_CHECK_INTERVAL", "SERVICE_CHECK_TTL", "SERVICE_CHECK_SCRIPT", "SERVICE_IGNORE",
                        "SERVICE_FOO", "SERVICE_80_CHECK_TCP", "SERVICE_CHECK_INITIAL_STATUS", "SERVICE_0_NAME",
                        "SERVICE_CHECK_TIMEOUT", "SERVICE_CHECK_DOCKER", "SERVICE_X-Y"])
values = st.one_of(st.text(max_size=40), st.text(string.ascii_letters + string.digits + "-/,\\ ", max_size=20),
                   st.sampled_from(["10s", "abc", "true", "/health", "1m30s", "passing", "'", "a b", "x" * 5000]))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=6), st.dictionaries(keys, values, max_size=3))
def test_any_labels_never_raise_and_services_are_well_formed(labels, env):
    c = make_container(labels=labels, env=[f"{k}={v}" for k, v in env.items()])
    services, problems = services_for(c, CFG)
    for s in services:
        assert 1 <= len(s.name) <= 63 and s.name[0].isalnum()
        assert s.meta[OWNER_NODE] == "host-a"
        assert all("\n" not in t for t in s.tags)
        assert s.definition()["Port"] == 32768
    for p in problems:
        assert p.container == "web1" and p.key.startswith(("SERVICE_", "network"))
