"""Service names and IDs: the stages, and which IDs are refused (they travel into Consul's URLs)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registrator.naming import MAX_ID, dns_warning, id_problem, name_problem, service_id, service_name

HOSTILE_IDS = ["../../leave", "../../join/127.0.0.2", "../../check/fail/web", "..", "a/b", "a\\b", "x?enable=false",
               "x#frag", "x%2F..%2Fleave", "with space", "tab\there", "nl\n", "\u2028sep", "", "x" * (MAX_ID + 1),
               "é" * (MAX_ID // 2 + 1)]


@pytest.mark.parametrize("sid", HOSTILE_IDS)
def test_hostile_ids_are_refused(sid: str) -> None:
    assert id_problem(sid)


@pytest.mark.parametrize("sid", ["web-1", "host-a:web1:80", "host-a:web1:53:udp", "my_svc.v2", "é-ünïcode",
                                 "x" * MAX_ID, "a.b"])
def test_ordinary_ids_pass(sid: str) -> None:
    assert id_problem(sid) is None


@given(st.text(max_size=40))
def test_an_accepted_id_is_one_url_path_segment(sid: str) -> None:
    if id_problem(sid) is None:
        assert "/" not in sid and ".." not in sid and "?" not in sid and "#" not in sid and "%" not in sid
        assert sid and not any(c.isspace() for c in sid)


def test_generated_id_and_generic_id_over_several_ports() -> None:
    base = {"node_id": "n", "container": "web1", "exposed": 53}
    assert service_id(None, **base, udp=True, group=False, port_specific=False) == "n:web1:53:udp"
    assert service_id("mine", **base, udp=True, group=True, port_specific=False) == "mine:53"
    assert service_id("mine", **base, udp=False, group=True, port_specific=True) == "mine"


def test_name_stage() -> None:
    assert service_name(None, "registry:5000/team/my_app:1.2", 80, group=False, port_named=False) == "my_app"
    assert service_name(None, "nginx", 80, group=True, port_named=False) == "nginx-80"
    assert service_name("web", "nginx", 80, group=True, port_named=False) == "web-80"
    assert service_name("web", "nginx", 80, group=True, port_named=True) == "web"


def test_names_consul_takes_are_registered_with_a_warning_but_not_what_a_url_cannot_carry() -> None:
    for name in ("my_service", "api.v1", "-x", "n" * 200, "web@sha256"):
        assert name_problem(name) is None and dns_warning(name) is not None, name
    assert dns_warning("web-1") is None
    for name in ("../../leave", "a/b", "x?y", "a#b", "50%", "a b", "tab\there", "", "n" * 257, "back\\slash"):
        assert name_problem(name) is not None, name
