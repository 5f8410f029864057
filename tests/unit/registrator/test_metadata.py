from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from registrator.config import MAX_META_PAIRS, Config, Limits
from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, services_for, split_tags
from registrator.naming import default_name, dns_warning, name_problem
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
    cfg = Config(node_id="n", ip="127.0.0.1", tags="x,{{.Config.Hostname}}")
    s = one(container(labels={"SERVICE_TAGS": r"a, b\,c ,,d"}), cfg)
    assert s.tags == ("d", "b,c", "a", "c0ffee000000", "x")  # each list last first, as gliderlabs master
    assert split_tags(r"\,") == [","]


def test_unknown_keys_become_meta_lowercase_and_checks_too(container):
    s = one(container(labels={"SERVICE_OWNER_TEAM": "payments", "SERVICE_CHECK_TCP": "true"}))
    assert s.meta["owner_team"] == "payments"
    assert s.meta["check_tcp"] == "true"  # gliderlabs copies every key but name, id, tags into Meta
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


def test_host_network_registers_every_exposed_port_at_ip(container):
    c = container(network_mode="host", exposed=["80/tcp", "9100/tcp"], published={}, networks={},
                  labels={"SERVICE_80_NAME": "web"})
    services, _ = services_for(c, Config(node_id="n", ip="127.0.0.1"))
    assert [(s.name, s.address, s.port) for s in services] == [("web", "127.0.0.1", 80),
                                                                ("nginx-9100", "127.0.0.1", 9100)]
    internal, problems = services_for(c, Config(node_id="n", ip="127.0.0.1", internal=True))
    assert problems == [] and [(s.address, s.port) for s in internal] == [("", 80), ("", 9100)]


def test_container_network_child_gets_its_parents_address(container):
    parent = container(networks={"bridge": {"IPAddress": "198.18.0.7"}})
    child = container(network_mode="container:" + parent["Id"], exposed=["9000/tcp"], published={}, networks={},
                      labels={"SERVICE_NAME": "sidecar"})
    [s], _ = services_for(child, Config(node_id="n", ip="127.0.0.1"), parent)
    assert (s.name, s.address, s.port) == ("sidecar", "198.18.0.7", 9000)
    [s], _ = services_for(child, Config(node_id="n", ip="127.0.0.1"))  # parent gone meanwhile: -ip
    assert s.address == "127.0.0.1"


def test_group_counts_published_ports_only(container):
    c = container(exposed=["80/tcp", "443/tcp"], published={"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                                             "443/tcp": None})
    assert [s.name for s in services_for(c, CFG)[0]] == ["nginx"]
    assert [s.name for s in services_for(c, Config(node_id="n", internal=True))[0]] == ["nginx-80", "nginx-443"]


def test_odd_containers_without_env_labels_ports(container):
    c = container(env=None, labels=None, exposed=[], published={})
    c["Config"]["ExposedPorts"] = None
    c["NetworkSettings"]["Ports"] = None
    c["Config"]["Cmd"] = None
    assert services_for(c, CFG) == ([], [])
    del c["Config"]
    assert services_for(c, CFG) == ([], [])


def test_default_name_sanitised():
    assert default_name("registry:5000/a/b/my_app.v2:1.0") == "my_app.v2"  # verbatim, as gliderlabs
    assert default_name("registry:5000/a/web") == "web"


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
        assert name_problem(s.name) is None  # URL-safe; a name DNS cannot serve is registered with a warning
        assert (dns_warning(s.name) is None) == all(p.kind != "dns_name" for p in problems)
        assert s.meta[OWNER_NODE] == "host-a"
        assert all("\n" not in t for t in s.tags)
        assert s.definition()["Port"] == 32768
    for p in problems:
        assert p.container == "web1" and p.key.startswith(("SERVICE_", "network"))


# ---- service IDs that would reach another endpoint: refused with the key named ----
def test_hostile_service_id_is_skipped_naming_container_and_key(container):
    for sid in ("../../leave", "../../join/127.0.0.2", "a/b", "x?y", "a b"):
        p = bad(container, {"labels": {"SERVICE_ID": sid}}, "SERVICE_ID")
        assert p.kind == "service_id" and p.value == sid
    p = bad(container, {"env": ["SERVICE_80_ID=../../check/fail/x"]}, "SERVICE_80_ID")
    assert "'..'" in p.reason


def test_generic_id_suffixed_per_port_is_checked_too_and_duplicates_refused(container):
    c = container(exposed=["80/tcp", "81/tcp"], published={"80/tcp": [{"HostIp": "", "HostPort": "1080"}],
                                                          "81/tcp": [{"HostIp": "", "HostPort": "1081"}]},
                  labels={"SERVICE_80_ID": "same", "SERVICE_81_ID": "same"})
    services, problems = services_for(c, CFG)
    assert [s.id for s in services] == ["same"] and problems[0].key == "SERVICE_81_ID"
    assert "another port" in problems[0].reason


def test_the_id_key_is_kept_for_log_lines(container):
    assert one(container(labels={"SERVICE_ID": "mine"})).id_key == "SERVICE_ID"
    assert one(container()).id_key == "" and one(container()).container == "web1"


# ---- script and docker-exec checks: opt-in only ----
def test_command_checks_refused_without_opt_in_service_registered_without_them(container):
    labels = {"SERVICE_CHECK_SCRIPT": "curl -f http://$SERVICE_IP/", "SERVICE_80_CHECK_DOCKER": "true",
              "SERVICE_CHECK_TTL": "30s"}
    services, problems = services_for(container(labels=labels), CFG)
    assert [c["CheckID"] for c in services[0].checks] == ["service:host-a:web1:80"]
    assert {(p.key, p.kind, p.effect) for p in problems} == {
        ("SERVICE_CHECK_SCRIPT", "script_check", "check not registered"),
        ("SERVICE_80_CHECK_DOCKER", "script_check", "check not registered")}
    assert all("--allow-script-checks" in str(p) for p in problems)
    allowed = one(container(labels=labels), Config(node_id="host-a", ip="127.0.0.1", allow_script_checks=True))
    assert [c["CheckID"] for c in allowed.checks] == ["service:host-a:web1:80", "host-a:web1:80:script",
                                                      "host-a:web1:80:ttl"]  # gliderlabs' order: docker first
    assert allowed.checks[1]["Args"] == ["curl", "-f", "http://127.0.0.1/"]


def test_an_unusable_command_check_is_only_refused_without_opt_in(container):
    services, problems = services_for(container(labels={"SERVICE_CHECK_SCRIPT": "'unclosed"}), CFG)
    assert len(services) == 1 and problems[0].kind == "script_check"


def test_zero_interval_and_ttl_refused_before_consul_would(container):
    bad(container, {"labels": {"SERVICE_CHECK_TCP": "true", "SERVICE_CHECK_INTERVAL": "0s"}}, "SERVICE_CHECK_INTERVAL")
    bad(container, {"labels": {"SERVICE_CHECK_TTL": "0"}}, "SERVICE_CHECK_TTL")


def test_unspecified_address_from_label_refused(container):
    cfg = Config(node_id="n", ip="127.0.0.1", ip_from_label="ip")
    services, problems = services_for(container(labels={"ip": "0.0.0.0/0"}), cfg)
    assert services == [] and problems[0].key == "ip" and "0.0.0.0" in problems[0].reason


# ---- caps: over one, none of the container's services; the reason names what and the limit ----
def many_ports(container, n: int, **labels: str):
    exposed = [f"{8000 + i}/tcp" for i in range(n)]
    return container(exposed=exposed, published={p: [{"HostIp": "", "HostPort": str(20000 + i)}]
                                                 for i, p in enumerate(exposed)}, labels=labels)


def over(container_json, cfg, key: str) -> None:
    services, problems = services_for(container_json, cfg)
    assert services == [], [s.id for s in services]
    p = problems[-1]
    assert (p.kind, p.key) == ("limit", key) and "over the limit" in p.reason and "web1" in str(p)


def test_port_cap(container):
    cfg = Config(node_id="n", ip="127.0.0.1", limits=Limits(ports=3))
    assert len(services_for(many_ports(container, 3), cfg)[0]) == 3
    over(many_ports(container, 4), cfg, "ports")
    assert len(services_for(many_ports(container, 4, SERVICE_8003_IGNORE="1"), cfg)[0]) == 3  # counts what registers


def test_tag_cap_includes_the_flags_tags(container):
    cfg = Config(node_id="n", ip="127.0.0.1", tags="x,y", limits=Limits(tags=4))
    assert len(one(container(labels={"SERVICE_TAGS": "a,b"}), cfg).tags) == 4
    over(container(labels={"SERVICE_TAGS": "a,b,c"}), cfg, "SERVICE_TAGS")


def test_meta_cap_is_consuls_64_pairs_with_ours(container):
    fits = {f"SERVICE_K{i}": "v" for i in range(MAX_META_PAIRS - 2)}
    assert len(one(container(labels=fits)).meta) == MAX_META_PAIRS
    over(container(labels={**fits, "SERVICE_ONE_MORE": "v"}), CFG, "SERVICE_* meta")


def test_check_cap_counts_the_whole_container(container):
    cfg = Config(node_id="n", ip="127.0.0.1", limits=Limits(checks=3))
    checks = {"SERVICE_CHECK_TCP": "true", "SERVICE_CHECK_TTL": "9s"}
    assert sum(len(s.checks) for s in services_for(container(labels=checks), cfg)[0]) == 2
    over(many_ports(container, 2, **checks), cfg, "SERVICE_CHECK_*")


def test_tags_template_rendering_a_containers_control_characters_is_refused(container):
    cfg = Config(node_id="n", ip="127.0.0.1", tags='{{mIndex "note" .Config.Labels}}')
    assert one(container(labels={"note": "a,b"}), cfg).tags == ("b", "a")
    services, problems = services_for(container(labels={"note": "a\nb"}), cfg)
    assert services == [] and problems[0].key == "-tags" and "control characters" in problems[0].reason
    services, problems = services_for(container(), Config(node_id="n", tags="{{index .Id 999}}"))  # out of range
    assert services == [] and problems[0].kind == "tags"
