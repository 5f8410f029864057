"""KV dependencies within a connection budget: one query each while they fit, coalesced by common prefix
beyond; each dependency's value cut from the shared answer exactly as its own query would have been."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consul_templates.functions import KEY, KEYS, Dependency
from consul_templates.kvplan import KVWatch, derive, kv_target, plan
from consul_templates.watch import Store, Watches


def kv(*keys: str) -> list[dict[str, Any]]:
    return [{"Key": k, "Value": base64.b64encode(k.encode()).decode()} for k in keys]


def test_each_dependency_has_its_own_query_while_they_fit() -> None:
    deps = {Dependency(KEY, "app/a"), Dependency(KEYS, "app/db"), Dependency(KEY, "other", dc="dc2")}
    p = plan(deps, budget=3)
    assert len(p) == 3 and all(len(members) == 1 for members in p.values())
    assert KVWatch("app/db", recurse=True) in p and KVWatch("app/a") in p


def test_beyond_the_budget_neighbours_share_a_recursive_query_on_their_prefix() -> None:
    deps = {Dependency(KEY, f"app/svc{i}/weight") for i in range(20)} | {Dependency(KEYS, "zone/eu")}
    p = plan(deps, budget=2)
    assert len(p) == 2
    assert p[KVWatch("zone/eu", recurse=True)] == {Dependency(KEYS, "zone/eu")}
    assert p[KVWatch("app/svc", recurse=True)] == {d for d in deps if d.name.startswith("app/")}
    # datacenters are never merged
    two = plan({Dependency(KEY, "a", dc="dc1"), Dependency(KEY, "a", dc="dc2"), Dependency(KEY, "b", dc="dc2")}, 1)
    assert len(two) == 2


def test_derive_answers_as_the_own_query_would() -> None:
    listing = kv("app/a", "app/ab", "app/b/c", "apple")
    watch = KVWatch("ap", recurse=True)
    assert derive(watch, Dependency(KEY, "app/a"), listing) == kv("app/a")
    assert derive(watch, Dependency(KEY, "app/zz"), listing) is None  # a key that does not exist: 404, None
    assert derive(watch, Dependency(KEYS, "app"), listing) == kv("app/a", "app/ab", "app/b/c", "apple")
    assert derive(watch, Dependency(KEYS, "app/b"), listing) == kv("app/b/c")
    assert derive(watch, Dependency(KEYS, "nothing"), None) is None


names = st.text(alphabet="ab/", min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.sets(st.tuples(st.sampled_from([KEY, KEYS]), names), min_size=1, max_size=25), st.integers(1, 30),
       st.sets(names, max_size=15))
def test_any_plan_fits_and_every_dependency_sees_its_own_answer(specs: set, budget: int, keys: set) -> None:
    deps = {Dependency(kind, name) for kind, name in specs}
    p = plan(deps, budget)
    assert len(p) <= budget
    assert set().union(*p.values()) == deps
    store = sorted(keys)
    for watch, members in p.items():
        answer = [e for e in kv(*store) if e["Key"].startswith(watch.prefix)] if watch.recurse \
            else ([e for e in kv(*store) if e["Key"] == watch.prefix] or None)
        answer = answer or None
        for dep in members:
            own = [e for e in kv(*store) if (e["Key"] == dep.name if dep.kind == KEY else
                                            e["Key"].startswith(dep.name))] or None
            assert derive(watch, dep, answer) == own


class CountingConsul:
    """Blocking KV watches that never answer twice; counts how many are held at once."""

    def __init__(self) -> None:
        self.held = 0
        self.peak = 0
        self.paths: list[str] = []

    async def watch(self, path: str, params: Any = (), **_: Any) -> AsyncIterator[tuple[int, Any]]:
        self.held += 1
        self.peak = max(self.peak, self.held)
        self.paths.append(path)
        try:
            yield 1, kv("app/x0/w", "app/x1/w", "app/x2/w")
            await asyncio.Event().wait()
        finally:
            self.held -= 1

    async def datacenters(self) -> list[str]:
        return ["dc1"]


async def test_watches_never_hold_more_than_the_budget() -> None:
    consul = CountingConsul()
    store = Store()
    changed: list[Dependency] = []
    watches = Watches(consul, store, changed.append, cap=16, pool_size=8)  # budget 16 - 8 - 2 = 6
    deps = [Dependency(KEY, f"app/x{i}/w") for i in range(40)]
    watches.sync(deps)
    for _ in range(20):
        await asyncio.sleep(0)
    assert consul.peak <= 6 == watches.kv_budget()
    assert store[deps[1]] == "app/x1/w" and store[deps[39]] is None  # absent key: None, as its own query says
    await watches.close()
    assert consul.held == 0


def test_go_template_kv_queries_are_planned_like_ours() -> None:
    from consul_templates.ctfuncs.queries import KeyQuery, PrefixQuery, ServiceQuery
    from consul_templates.ctfuncs.source import dependency

    deps = {dependency(KeyQuery(f"app/k{i}")) for i in range(10)} | {dependency(PrefixQuery("app/list"))}
    p = plan(deps, budget=2)
    assert len(p) == 2 and set().union(*p.values()) == deps
    (merged,) = [w for w in p if len(p[w]) > 1] or [next(iter(p))]
    key = dependency(KeyQuery("app/k3"))
    listing = kv("app/k3", "app/k30", "app/list/a")
    assert derive(merged, key, listing) == kv("app/k3")
    assert derive(KVWatch("app/", recurse=True), dependency(PrefixQuery("app/list")), listing) == kv("app/list/a")
    assert plan({dependency(ServiceQuery.parse("web"))}, 5) == {}  # not a KV read: watched on its own


def test_a_kv_dependency_with_a_query_of_its_own_is_not_coalesced() -> None:
    """Only dependencies whose query the base class builds from kind, name and datacenter are cut out of a shared
    listing; a subclass that says its own query is watched as it asks (the Go templates' KV queries do not)."""
    from dataclasses import dataclass

    from consul_templates.ctfuncs.queries import KeyQuery
    from consul_templates.ctfuncs.source import dependency

    @dataclass(frozen=True)
    class Subclass(Dependency):  # the base class's query: a KV read like any other
        label: str = ""

    @dataclass(frozen=True)
    class OwnQuery(Dependency):
        def query(self) -> tuple[str, list[tuple[str, str]]]:
            return "/v1/kv/elsewhere", []

    go_key = dependency(KeyQuery("app/k1", dc="dc2"))
    assert type(go_key) is not Dependency and kv_target(go_key) == KVWatch("app/k1", "dc2")
    assert kv_target(Subclass(KEYS, "app/", label="x")) == KVWatch("app/", recurse=True)
    assert kv_target(OwnQuery(KEY, "app/k1")) is None
    assert plan({OwnQuery(KEY, "app/k1"), Dependency(KEY, "app/k2")}, budget=1) == {
        KVWatch("app/k2"): frozenset({Dependency(KEY, "app/k2")})}
