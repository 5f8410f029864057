"""memobase.Checks: a whole loop's checks tested in one pass give what testing each one gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consul_templates.memobase import Checks, ServiceCheck

OBJECTS = [object() for _ in range(3)]
check = st.none() | st.tuples(st.sampled_from([None, "dc2"]), st.sampled_from(["web", "api", "db"]),
                              st.sampled_from(OBJECTS))
sources = st.dictionaries(st.sampled_from([None, "dc2"]),
                          st.dictionaries(st.sampled_from(["web", "api", "db"]), st.sampled_from(OBJECTS)))


def failing_one_by_one(items: list[ServiceCheck], by_dc: dict) -> list[int]:
    return [i for i, c in enumerate(items)
            if c is None or by_dc.get(c[0]) is None or by_dc[c[0]].get(c[1]) is not c[2]]


@given(st.lists(check, max_size=8), sources, st.dictionaries(st.integers(0, 7), check, max_size=3))
def test_checks_fail_exactly_where_each_check_fails(items: list[ServiceCheck], by_dc: dict,
                                                     changes: dict[int, ServiceCheck]) -> None:
    checks = Checks(items)
    assert checks.failing(by_dc) == failing_one_by_one(items, by_dc)
    changes = {i: c for i, c in changes.items() if i < len(items)}
    want = [changes.get(i, c) for i, c in enumerate(items)]
    checks.update(changes)
    assert checks.items == want
    assert checks.failing(by_dc) == failing_one_by_one(want, by_dc)


NAMES = ["web", "api", "db", "cache"]
step = st.dictionaries(st.sampled_from(NAMES), st.none() | st.integers(0, 2), max_size=3)


@given(st.lists(st.sampled_from(NAMES) | st.none(), max_size=10), st.lists(step, max_size=6),
       st.lists(st.tuples(st.integers(0, 9), st.sampled_from(NAMES) | st.none()), max_size=3),
       st.integers(0, 6))
def test_checks_verified_in_a_catalog_test_only_what_moved_and_fail_where_each_fails(
        reads: list[str | None], steps: list[dict], rereads: list[tuple[int, str | None]], branch: int) -> None:
    """Checks verified in one catalog, tested in a later one of its line (or of another line, or further back
    than the line keeps): the same iterations fail as when each check is tested."""
    from portside.catalog import Catalog

    values = [(), ("a",), ("b",)]  # distinct objects per value, the same object for an unchanged service
    catalog = Catalog(datacenter="dc1").with_services({n: values[0] for n in NAMES[:3]})
    catalogs = {None: catalog}

    def made(names: list[str | None]) -> list[ServiceCheck]:
        return [None if n is None or n not in catalog.services else (None, n, catalog.services[n]) for n in names]

    checks = Checks(made(reads))
    checks.verify(catalogs)
    history = [catalog]
    for k, changes in enumerate(steps):
        base = history[min(branch, len(history) - 1)] if k == len(steps) // 2 else catalog  # now and then a branch
        catalog = base.with_services({n: None if v is None else values[v] for n, v in changes.items()})
        history.append(catalog)
    catalogs = {None: catalog}
    by_dc = {None: catalog.services}
    assert checks.failing(by_dc, catalogs) == failing_one_by_one(checks.items, by_dc)
    # as the memo does: the failing iterations made again in this catalog (and some that read another service
    # now), then verified here; they still fail exactly where each check fails
    again = {i: made([reads[i]])[0] for i in checks.failing(by_dc, catalogs)}
    again.update({i: made([n])[0] for i, n in rereads if i < len(reads)})
    new = checks
    new.update(again)
    new.verify(catalogs)
    assert new.failing(by_dc, catalogs) == failing_one_by_one(new.items, by_dc) == [
        i for i, c in enumerate(new.items) if c is None]
    later = catalog.with_services({"web": values[1], "db": None})
    by_dc, catalogs = {None: later.services}, {None: later}
    assert new.failing(by_dc, catalogs) == failing_one_by_one(new.items, by_dc)


def test_an_iteration_that_reads_another_service_now_is_tested_when_that_one_moves() -> None:
    from portside.catalog import Catalog

    c0 = Catalog().with_services({"web": ("w",), "api": ("a",)})
    checks = Checks([(None, "web", c0.services["web"]), (None, "api", c0.services["api"])])
    checks.verify({None: c0})
    c1 = c0.with_services({"web": ("w2",)})
    assert checks.failing({None: c1.services}, {None: c1}) == [0]
    checks.update({0: (None, "api", c1.services["api"])})  # iteration 0 now reads api
    checks.verify({None: c1})
    assert checks.failing({None: c1.services}, {None: c1}) == []
    c2 = c1.with_services({"api": ("a2",)})
    assert checks.failing({None: c2.services}, {None: c2}) == [0, 1]
    c3 = c2.with_services({"web": ("w3",)})
    checks.update({0: (None, "api", c2.services["api"]), 1: (None, "api", c2.services["api"])})
    checks.verify({None: c2})
    assert checks.failing({None: c3.services}, {None: c3}) == []  # web moved: no iteration reads it now
