"""Following asked services: which ones (asked local services only), how many (the connection cap's room), and
that the choice is stable (followed ones are kept) and bounded whatever clients ask."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from dns_balancer.follow import AskedFollower, asked_services, choose, room
from dns_balancer.records import encode_name
from dns_balancer.snapshot import Instance, Node, Snapshot
from dns_balancer.zone import Update, Zone, ZoneConfig, build_zone

A, SRV = 1, 33


def zone_of(*services: str) -> Zone:
    snap = Snapshot().with_nodes({"n1": Node("n1", "198.18.0.1")}, 1)
    snap = snap.with_services({s: (Instance(id=f"{s}-1", service=s, node="n1", address="198.18.0.1", port=80),)
                               for s in services}, 2)
    return build_zone(snap, ZoneConfig())


def ask(zone: Zone, name: str, qtype: int = A) -> None:
    zone.lookup(encode_name(name.split(".")) + qtype.to_bytes(2, "big"))


def test_room_is_what_the_cap_leaves_after_every_other_connection() -> None:
    # 4 feed watches + 8 reads + 4 datacenters x (4 + 4) + the prepared-query watch and a spare = 46 of 64
    assert room(64, 16, 8, 4) == 16
    assert room(64, 100, 8, 4) == 18
    assert room(40, 16, 8, 4) == 0
    assert room(64, 16, 8, 0) == 16 and room(20, 16, 8, 0) == 6


def test_only_asked_local_services_count_and_their_answers_are_counted() -> None:
    zone = zone_of("web", "db", "cache")
    zone.apply(Update({"web": replace(zone.parts["web"])}))
    assert asked_services(zone, {}) == {}
    ask(zone, "web.service.consul")
    ask(zone, "_db._tcp.service.consul", SRV)
    ask(zone, "n1.node.consul")  # the nodes' part: not a service
    ask(zone, "consul", 6)  # the apex
    ask(zone, "nosuch.service.consul")
    rotation = {encode_name(["web", "service", "consul"]) + b"\0\1": [7],
                encode_name(["web", "service", "consul"]) + b"\0\x21": [3],
                encode_name(["n1", "node", "consul"]) + b"\0\1": [50]}
    assert asked_services(zone, rotation) == {"web": 10, "db": 0}
    # a part lent by another datacenter (same names here, so they have two owners): not followed here
    lent = replace(zone.parts["cache"], dc="dc2")
    zone.apply(Update({"\0dc:dc2\0cache": lent}))
    ask(zone, "cache.service.consul")
    assert asked_services(zone, {}).keys() == {"web", "db", "cache"}
    zone.apply(Update({"cache": None}))
    ask(zone, "cache.service.consul", SRV)
    assert "cache" not in asked_services(zone, {})


names = st.sampled_from([f"s{i}" for i in range(30)])


@given(st.dictionaries(names, st.integers(0, 1000)), st.sets(names), st.integers(0, 12))
def test_choose_takes_the_most_asked_within_the_limit(rates: dict[str, int], followed: set[str], limit: int) -> None:
    chosen = choose(rates, followed, limit)
    assert len(chosen) == min(limit, len(rates)) and len(set(chosen)) == len(chosen) and set(chosen) <= rates.keys()
    weight = {s: rates[s] * (2 if s in followed else 1) for s in rates}
    left_out = rates.keys() - set(chosen)
    assert all(weight[c] >= weight[o] for c in chosen for o in left_out)


def test_a_followed_service_is_displaced_only_by_one_asked_more_than_twice_as_often() -> None:
    assert choose({"a": 10, "b": 19}, {"a"}, 1) == ["a"]
    assert choose({"a": 10, "b": 20}, {"a"}, 1) == ["a"]  # a tie: the followed one stays
    assert choose({"a": 10, "b": 21}, {"a"}, 1) == ["b"]
    assert choose({"a": 0, "b": 1}, {"a"}, 1) == ["b"]


class FakeFollowed:
    def __init__(self) -> None:
        self.names: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.names)


class FakeFeed:
    """What AskedFollower needs of portside.feed.Feed (the real one is in the integration test)."""

    def __init__(self) -> None:
        self.followed = FakeFollowed()
        self.calls: list[list[str]] = []

    def follow(self, names: list[str]) -> None:
        self.calls.append(list(names))
        self.followed.names = frozenset(names)


def test_the_follower_follows_the_names_asked_since_its_last_review_within_its_limit() -> None:
    zone = zone_of(*(f"s{i}" for i in range(10)))
    rotation: dict[bytes, list[int]] = {}
    feed = FakeFeed()
    follower = AskedFollower(feed, lambda: zone, lambda: rotation, limit=3)  # type: ignore[arg-type]

    def asked(name: str, times: int) -> None:
        ask(zone, f"{name}.service.consul")
        rotation.setdefault(encode_name([name, "service", "consul"]) + b"\0\1", [0])[0] += times

    follower.step()
    assert feed.calls == []
    asked("s5", 5)
    asked("s1", 1)
    follower.step()
    assert feed.calls == [["s5", "s1"]]
    follower.step()  # nothing asked since: the followed ones stay (0 for all, followed first)
    assert len(feed.calls) == 1
    for i in range(10):  # a client asking every name moves the choice, never the count
        asked(f"s{i}", 100 + i)
    follower.step()
    assert feed.calls[-1] == ["s5", "s1", "s9"]  # each followed one counts double: s5 210 and s1 202 over s9 109
    asked("s2", 1000)
    rotation[encode_name(["s9", "service", "consul"]) + b"\0\1"] = [40]  # dropped by the responder, counted again
    follower.step()
    assert feed.calls[-1] == ["s2", "s9", "s1"]  # s9 40 (x2), s1 and s5 0: followed, then by name
    feed.followed.names = frozenset()  # the feed restarted: its followed services are gone
    asked("s7", 3)
    follower.step()
    assert feed.calls[-1] == ["s7", "s0", "s1"]  # only what was asked since counts
