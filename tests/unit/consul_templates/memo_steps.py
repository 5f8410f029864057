"""Chains of catalog and KV changes for the loop memos' properties (Jinja's and Go's): a memoized render must
equal the plain render after every change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from consul_templates.functions import KEY, Dependency
from consul_templates.guards import GUARDS
from consul_templates.languages import RenderInput, render_guarded
from consul_templates.watch import Store
from portside.catalog import Catalog, Instance, ServiceSummary

ADDRESSES = ["127.0.0.1", "127.0.0.2", "::1", "10.0.0.1;evil", "127.0.0.3"]  # one the nginx guard refuses
instance = st.tuples(st.sampled_from(ADDRESSES), st.integers(1, 3), st.sampled_from(["passing", "critical"]),
                     st.sampled_from([(), ("a",), ("a", "b")]))
step = st.tuples(st.dictionaries(st.sampled_from(["web", "api", "db", "a-b"]),
                                 st.none() | st.lists(instance, max_size=3), max_size=2),
                 st.dictionaries(st.sampled_from(["weight", "svc/web", "svc/db"]),
                                 st.sampled_from(["1", "2", "x", None]), max_size=1))  # None: the key is deleted

# nothing the guard drops: every render reads the store itself, so a whole loop is checked by the catalog's values
benign = st.tuples(st.sampled_from(ADDRESSES[:3]), st.integers(1, 3), st.sampled_from(["passing", "critical"]),
                   st.sampled_from([(), ("a",)]))
benign_step = st.tuples(st.dictionaries(st.sampled_from(["web", "api", "db", "a-b"]),
                                        st.lists(benign, min_size=1, max_size=3), min_size=1, max_size=2),
                        st.dictionaries(st.sampled_from(["weight", "svc/web"]), st.sampled_from(["1", "2"]),
                                        max_size=1))


def apply(store: Store, change: tuple[dict, dict], index: int,
          kv_dependency: Callable[[str], Dependency] = lambda key: Dependency(KEY, key)) -> None:
    services, kv = change
    cat = store.catalogs[None]
    new = {name: None if spec is None else tuple(
        Instance(f"{name}-{k}", name, f"n{k}", addr, port, node_address=addr, tags=tags, status=status)
        for k, (addr, port, status, tags) in enumerate(spec)) for name, spec in services.items()}
    cat = cat.with_services(new, index)
    names = {n for n, insts in cat.services.items() if insts}
    summaries = {n: cat.summaries.get(n) or ServiceSummary(n, tuple(sorted({t for i in cat.services[n]
                                                                            for t in i.tags})))
                 for n in sorted(names)}
    if summaries.keys() != cat.summaries.keys():  # the feed hands out new summaries only when the list moves
        cat = cat.with_summaries(summaries, index)
    store.catalogs[None] = cat
    for key, value in kv.items():
        store.put(kv_dependency(key), value)


def empty_store() -> Store:
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    return store


def seeded_store(kv_dependency: Callable[[str], Dependency] = lambda key: Dependency(KEY, key)) -> Store:
    """Every service the benign changes name, one instance each: each benign step then changes a service."""
    store = empty_store()
    store.catalogs[None] = store.catalogs[None].with_services(
        {n: (Instance(f"{n}-0", n, "n0", "127.0.0.1", 1),) for n in ("web", "api", "db", "a-b")}, 1)
    apply(store, ({}, {}), 1, kv_dependency)
    return store


def renders_alike(memoized: Any, plain: Any, store: Store, steps: list, start: int,
                  kv_dependency: Callable[[str], Dependency] = lambda key: Dependency(KEY, key)) -> None:
    """After each change, the memoized render gives what the plain one gives: text, reads, what is missing."""
    for index, change in enumerate(steps, start=start):
        apply(store, change, index, kv_dependency)
        assert outcome(memoized, store) == outcome(plain, store)


def outcome(renderer: Any, store: Store) -> tuple:
    try:
        out = render_guarded(renderer, RenderInput(store, {}), GUARDS["nginx"])
    except Exception as exc:  # noqa: BLE001 - the same failure is as good an answer as the same text
        return ("error", type(exc).__name__, str(exc))
    return out.text, out.used, out.missing, out.blocked, [d.describe() for d in out.dropped]
