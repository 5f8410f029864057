"""Pure: which KV blocking queries serve which `key`/`ls`/`tree` dependencies, within a connection budget.

Each KV dependency normally has its own blocking query (one held connection). When templates read more KV
dependencies than the budget allows, neighbours (in key order, same datacenter) are coalesced into one recursive
query on their common prefix, the pair sharing the longest prefix first, until the plan fits; each dependency's
value is then cut out of that listing exactly as Consul would have answered it (`derive`). The cost of
coalescing is a bigger answer per change under that prefix, never a connection over the budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from consul_templates.functions import KEY, KEYS, Dependency


@dataclass(frozen=True, slots=True)
class KVWatch:
    """One blocking query: a single key, or (`recurse`) every key under `prefix` (a plain string prefix, as
    Consul's ?recurse matches)."""

    prefix: str
    dc: str | None = None
    recurse: bool = False

    def query(self) -> tuple[str, list[tuple[str, str]]]:
        dep = Dependency(KEYS if self.recurse else KEY, self.prefix, dc=self.dc)
        return dep.query()


def kv_target(dep: Dependency) -> KVWatch | None:
    """The KV query a dependency stands for, or None when it is not a KV read. A `key`/`keys` dependency whose
    query is the base class's (the Jinja2 functions' and the Go templates' alike: the query is built from kind,
    name and datacenter) can share a recursive query; one that says its own query is watched as it asks."""
    if type(dep).query is not Dependency.query or dep.kind not in (KEY, KEYS):
        return None
    return KVWatch(dep.name, dep.dc, recurse=dep.kind == KEYS)


def own_watch(dep: Dependency) -> KVWatch:
    found = kv_target(dep)
    if found is None:
        raise ValueError(f"{dep} is not a KV read")
    return found


def _common(a: str, b: str) -> str:
    return os.path.commonprefix([a, b])


def plan(deps: Iterable[Dependency], budget: int) -> dict[KVWatch, frozenset[Dependency]]:
    """The watches to run for these KV dependencies, at most `budget` of them when that is possible (one per
    datacenter at least)."""
    kv = sorted(((w, d) for d in deps if (w := kv_target(d)) is not None),
                key=lambda wd: (wd[0].dc or "", wd[0].prefix, wd[0].recurse, str(wd[1])))
    groups: list[tuple[KVWatch, list[Dependency]]] = [(w, [d]) for w, d in kv]
    # merge the same-datacenter neighbours sharing the longest prefix until the plan fits
    while len(groups) > max(budget, 1):
        best, best_len = -1, -1
        for i in range(len(groups) - 1):
            a, b = groups[i][0], groups[i + 1][0]
            if a.dc == b.dc and len(_common(a.prefix, b.prefix)) > best_len:
                best, best_len = i, len(_common(a.prefix, b.prefix))
        if best < 0:
            break  # more datacenters than the budget: nothing left to merge
        (a, da), (b, db) = groups[best], groups[best + 1]
        groups[best : best + 2] = [(KVWatch(_common(a.prefix, b.prefix), a.dc, recurse=True), da + db)]
    merged: dict[KVWatch, frozenset[Dependency]] = {}
    for watch, members in groups:
        merged[watch] = merged.get(watch, frozenset()) | frozenset(members)
    return merged


def derive(watch: KVWatch, dep: Dependency, raw: Any) -> Any:
    """The answer Consul would give `dep`'s own query, cut from `watch`'s answer (None: no such key)."""
    if watch == own_watch(dep):
        return raw
    own = own_watch(dep)
    entries = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    if not own.recurse:
        found = [e for e in entries if e.get("Key") == own.prefix]
    else:
        found = [e for e in entries if isinstance(e.get("Key"), str) and e["Key"].startswith(own.prefix)]
    return found or None
