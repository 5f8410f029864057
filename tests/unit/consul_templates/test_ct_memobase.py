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
    new = checks.replaced(changes)
    want = [changes.get(i, c) for i, c in enumerate(items)]
    assert new.items == want
    assert new.failing(by_dc) == failing_one_by_one(want, by_dc)
    assert checks.items == items  # the walk it came from is left as it was
    assert checks.failing(by_dc) == failing_one_by_one(items, by_dc)
