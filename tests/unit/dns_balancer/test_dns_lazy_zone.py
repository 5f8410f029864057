"""The lazy zone (answers encoded on a name's first query, or warmed off the loop) against the eager reference
(tests/support/eager_zone.py): for any catalog, any order of first queries, any incremental change, and parts
lent by another datacenter, every answer is byte for byte the one the eager build makes, and exactly the same
names exist."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dns_balancer.snapshot import CRITICAL, PASSING, WARNING, Instance, Node, Snapshot
from dns_balancer.zone import Update, Zone, ZoneConfig, build_zone, plan
from tests.support.eager_zone import eager_table

SERVICES = ["web", "Api", "db", "s" * 63, "bad name", "x_y"]
TAGS = ["a", "A", "tcp", "TCP", "b", "has space", "_u", "t" * 63, "v1.2"]
ADDRESSES = ["198.18.0.1", "198.18.0.2", "198.18.1.7", "2001:db8::1", "2001:DB8::a", "host.example", "",
             "bad..name", "h" * 70 + ".example"]
NODES = {"n1": "198.18.0.1", "N2": "198.18.0.9", "bad node": "198.18.0.3", "n6": "2001:db8::1", "nh": "nohost"}

instances = st.builds(
    lambda k, svc, node, address, node_address, tags, status, weights: Instance(
        id=f"i{k}", service=svc, node=node, address=address, port=8000 + k, node_address=node_address,
        tags=tuple(tags), status=status, weight_passing=weights[0], weight_warning=weights[1]),
    st.integers(0, 40), st.sampled_from(SERVICES), st.sampled_from(sorted(NODES)), st.sampled_from(ADDRESSES),
    st.sampled_from(["", *ADDRESSES[:4]]), st.lists(st.sampled_from(TAGS), max_size=3),
    st.sampled_from([PASSING, PASSING, WARNING, CRITICAL]), st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
configs = st.builds(
    ZoneConfig, alt_domain=st.sampled_from([None, "portside", "Consul"]), datacenter=st.sampled_from([None, "DC1"]),
    ttl=st.sampled_from([0, 5, 300]), only_passing=st.booleans(),
    ns_address=st.sampled_from([None, "127.0.0.1", "::1"]),
)


def catalog(found: list[Instance], index: int, dc: str = "dc1") -> Snapshot:
    services: dict[str, tuple[Instance, ...]] = {}
    for inst in found:
        services.setdefault(inst.service, ())
        services[inst.service] += (inst,)
    snap = Snapshot(datacenter=dc).with_nodes({n: Node(n, a) for n, a in NODES.items()}, index)
    return snap.with_services(services, index + 1)


def names_of(zone: Zone) -> set[bytes]:
    return set(zone.owners) | set(zone.ents) | set(zone.addr_names)


def first_queries(zone: Zone, rng: random.Random) -> None:
    """Every name asked once, in a random order, with a random type first (what a client would do)."""
    everything = sorted(names_of(zone))
    rng.shuffle(everything)
    for name in everything:
        if name not in zone.table:
            zone.lookup(name + bytes((0, rng.choice([1, 28, 33, 255, 6, 2]))))
    zone.encode_all()


def assert_same(zone: Zone, table: dict, names: set[bytes]) -> None:
    assert zone.table.keys() == table.keys()
    for key, answer in table.items():
        assert zone.table[key] == answer, key
    assert names_of(zone) == names


@settings(max_examples=80, deadline=None)
@given(st.lists(instances, max_size=14), st.lists(instances, max_size=8), configs, st.randoms(use_true_random=False))
def test_lazy_answers_are_the_eager_ones_byte_for_byte(first, second, cfg, rng):
    before = catalog(first, 10)
    zone = build_zone(before, cfg)
    first_queries(zone, rng)
    assert_same(zone, *eager_table(before, cfg))
    # a change: a few services replaced or gone, planned off the loop and applied in place
    after = catalog([*(i for i in first if i.service != "db"), *second], 20)
    changed = {i.service for i in [*first, *second]}
    some = sorted(names_of(zone))[: len(zone.hot) // 2]  # asked before the change: warmed by the plan
    zone.apply(plan(after, changed, zone))
    for name in some:
        zone.lookup(name + b"\x00\x01")
    first_queries(zone, rng)
    assert_same(zone, *eager_table(after, cfg))


@settings(max_examples=40, deadline=None)
@given(st.lists(instances, max_size=10), st.lists(instances, min_size=1, max_size=10), configs,
       st.randoms(use_true_random=False))
def test_another_datacenters_lent_parts_answer_as_its_own_zone_would(local, remote, cfg, rng):
    here = catalog(local, 10)
    there = catalog(remote, 30, dc="dc2")
    remote_cfg = replace(cfg, datacenter="dc2", bare_names=False)  # as remote.py builds another datacenter's zone
    zone = build_zone(here, cfg)
    lent = build_zone(there, remote_cfg)
    keys = {f"\0dc:dc2\0{k}": replace(p, dc="dc2") for k, p in lent.parts.items() if k != "\0apex"}
    zone.apply(Update(keys))  # as leases.py lends them
    first_queries(zone, rng)
    table, names = eager_table(here, cfg)
    lent_table, lent_names = eager_table(there, remote_cfg, apex=False)
    assert_same(zone, {**table, **lent_table}, names | lent_names)
    zone.apply(Update(dict.fromkeys(keys)))  # taken back: nothing of dc2 is left
    first_queries(zone, rng)
    assert_same(zone, table, names)
