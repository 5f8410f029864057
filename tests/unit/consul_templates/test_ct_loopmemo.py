"""The loop memo: which loops it takes, and that a memoized render is always the render without it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consul_templates.loopmemo import MEMO_LOOP_NAME, MEMO_NAME, LoopMemo, plan
from consul_templates.render import Template, make_environment
from consul_templates.watch import Store
from portside.catalog import Catalog
from testbed.bulk import EVERY_SERVICE_TEMPLATE
from tests.unit.consul_templates.memo_steps import (
    apply,
    benign_step,
    empty_store,
    outcome,
    renders_alike,
    seeded_store,
    step,
)

OUTER_NAME = ("{% for s in services() %}{% for i in service(s.name) %}{{ s.name }} {{ i.address }}:{{ i.port }}"
              "{{ ' ' ~ i.tags|join(',') if i.tags }}\n{% else %}{{ s.name }} none\n{% endfor %}{% endfor %}")
LOOP_INDEX = ("{% for s in services() %}{{ loop.index }} {% for i in service(s.name, passing_only=False) %}"
              "{{ i.hostport }}/{{ i.status }} {% endfor %}\n{% endfor %}")
FREE_NAME = ("{% set w = key_or_default('weight', '1') %}{% for s in services() %}{% for i in service(s.name) %}"
             "server {{ i.hostport }} weight={{ w }};\n{% endfor %}{% endfor %}")
KEY_INSIDE = "{% for s in services() %}{{ s.name }}={{ key_or_default('svc/' ~ s.name, 'none') }}\n{% endfor %}"
TAGGED = ("{% for s in services('a') %}{{ s.name.upper() }}:{% for i in service(s.name, tag='a') %} {{ i.address }}"
          "{% endfor %}\n{% endfor %}")
FILTERED = ("{% for s in services() if s.name != 'db' %}{% for i in service(s.name) %}{{ i.port }},{% endfor %}"
            "{% else %}no services{% endfor %}")
TEMPLATES = [EVERY_SERVICE_TEMPLATE, OUTER_NAME, LOOP_INDEX, FREE_NAME, KEY_INSIDE, TAGGED, FILTERED]


class Unmemoized(Template):
    """The template compiled as written: the reference a memoized render must equal."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.env = make_environment()
        self.memo = LoopMemo(self.env.concat)
        self.compiled = self.env.from_string(text)


@pytest.mark.parametrize(("text", "names"), [
    (EVERY_SERVICE_TEMPLATE, [("s",)]),
    (LOOP_INDEX, [("i",)]),  # the outer body counts with loop.index: only the inner loop is kept
    (FREE_NAME, [("s", "w")]),
    (KEY_INSIDE, [("s",)]),
    (TAGGED, [("s",)]),
    ("{% for k, v in [(1, 2)] %}{{ k }}{{ v }}{% endfor %}", [("k", "v")]),
    (FILTERED, [("s",)]),
])
def test_loops_whose_text_depends_only_on_what_they_read_are_memoized(text: str, names: list[tuple[str, ...]]) -> None:
    assert [n for _, n in Template("t", text).memo.blocks] == names


@pytest.mark.parametrize(("text", "whole"), [
    (EVERY_SERVICE_TEMPLATE, True),  # one loop variable, no else, no condition: the memo runs the whole loop
    (FILTERED, False),  # a condition and an else: Jinja runs the loop, the memo each iteration
    (LOOP_INDEX, True),  # the inner loop, inside one that counts with loop.index (run by Jinja)
    ("{% for k, v in [(1, 2)] %}{{ k }}{{ v }}{% endfor %}", False),  # two loop variables
])
def test_a_plain_loop_is_handed_to_the_memo_whole(text: str, whole: bool) -> None:
    t = Template("t", text)
    source = t.env.compile(t.env.parse(text), raw=True)  # as written: the plan rewrites a parsed tree
    planned = t.env.compile(_planned(t, text), raw=True)
    assert MEMO_LOOP_NAME not in source
    assert (MEMO_LOOP_NAME in planned) is whole and (MEMO_NAME + "'" in planned) is not whole


def _planned(t: Template, text: str) -> Any:
    tree = t.env.parse(text)
    plan(t.env, tree)
    return tree


@pytest.mark.parametrize("body", [
    "{{ env('HOME') }}",  # the environment is not a store read
    "{{ [1, 2]|random }}",
    "{{ [1, 2]|map('random')|list }}",
    "{{ lipsum(1) }}",
    "{% set x = s.name %}{{ x }}",
    "{{ m(s) }}",  # a macro
    "{{ loop.index }}",
    "{% include 'other' %}",
    "{% for t in s.tags recursive %}{{ loop(t) }}{% endfor %}",
    "{{ c.next() }}",  # a method that may hold state
    "{{ s.name|nginx_quote }}{{ s|__portside_loop_memo }}",
])
def test_loops_that_may_depend_on_anything_else_are_kept_as_written(body: str) -> None:
    text = ("{% macro m(x) %}{{ x.name }}{% endmacro %}{% set c = cycler(1, 2) %}"
            "{% for s in services() %}" + body + "{% endfor %}")
    assert Template("t", text).memo.blocks == []


# ---- a memoized render equals the plain one, change after change ------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(step, min_size=1, max_size=6))
def test_a_memoized_render_equals_the_plain_render_after_every_change(text: str, steps: list) -> None:
    renders_alike(Template("t", text), Unmemoized("t", text), empty_store(), steps, 1)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(benign_step, min_size=2, max_size=6))
def test_a_loop_checked_whole_equals_the_plain_render_after_every_change(text: str, steps: list) -> None:
    renders_alike(Template("t", text), Unmemoized("t", text), seeded_store(), steps, 2)


@pytest.mark.parametrize("text", [
    # a namespace the outer loop counts with, read by an inner loop over the same item each time
    "{% set ns = namespace(c=0) %}{% for s in services() %}{% set ns.c = ns.c + 1 %}"
    "{% for x in [1] %}{{ ns.c }} {% endfor %}{% endfor %}",
    "{% for s in services() %}{% set outer = loop %}{% for x in [1] %}{{ outer.index }} {% endfor %}{% endfor %}",
    "{% set c = cycler('a', 'b') %}{% for s in services() %}{{ c.next() }}{% for x in [1] %}{{ c.current }}"
    "{% endfor %}{% endfor %}",
    "{% set ns = namespace(c=0) %}{% for s in services() %}{% set ns.c = ns.c + 1 %}"
    "{% for x in [(1, ns)] %}{{ x[1].c }} {% endfor %}{% endfor %}",  # the mutable one inside an item
])
def test_an_iteration_given_something_that_changes_while_alive_is_rendered_each_time(text: str) -> None:
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    apply(store, ({"web": [("127.0.0.1", 1, "passing", ())], "api": [("127.0.0.1", 1, "passing", ())],
                   "db": [("127.0.0.1", 1, "passing", ())]}, {}), 1)
    memoized = Template("t", text)
    assert memoized.memo.blocks  # the inner loop is memoized: only its arguments decide
    assert outcome(memoized, store) == outcome(Unmemoized("t", text), store)
    assert outcome(memoized, store) == outcome(Unmemoized("t", text), store)


def test_one_changed_service_renders_one_body_again() -> None:
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    apply(store, ({f"s{n}": [("127.0.0.1", n % 3 + 1, "passing", ())] for n in range(50)}, {}), 1)
    t = Template("t", EVERY_SERVICE_TEMPLATE)
    first = outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (0, 50)
    apply(store, ({"s7": [("127.0.0.2", 9, "passing", ())]}, {}), 2)
    second = outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (49, 51)
    assert second == outcome(Unmemoized("t", EVERY_SERVICE_TEMPLATE), store) != first
    assert "upstream s7 {\n    server 127.0.0.2:9;\n}" in second[0]


def test_a_loop_checked_whole_still_reports_every_read_when_one_iteration_cannot_be_kept() -> None:
    """The iterations kept by the whole-loop check count their reads even when a changed one read a value that
    does not exist (which is not kept): the watches follow what the render read."""
    text = ("{% for s in services() %}{% for i in service(s.name) %}{{ i.address }}{% if i.port == 3 %}"
            "{{ key_or_default('k', 'x') }}{% endif %}\n{% endfor %}{% endfor %}")
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    apply(store, ({n: [("127.0.0.1", 1, "passing", ())] for n in ("web", "api", "db")}, {}), 1)
    memoized = Template("t", text)
    assert outcome(memoized, store) == outcome(Unmemoized("t", text), store)
    apply(store, ({"web": [("127.0.0.2", 1, "passing", ())]}, {}), 2)
    assert outcome(memoized, store) == outcome(Unmemoized("t", text), store)  # the loop is now checked whole
    apply(store, ({"web": [("127.0.0.2", 3, "passing", ())]}, {}), 3)
    assert outcome(memoized, store) == outcome(Unmemoized("t", text), store)


def test_a_loop_checked_whole_stops_reporting_what_a_changed_iteration_no_longer_reads() -> None:
    """A loop checked whole reports the reads it kept from last time only while the changed iterations read what
    they read before: once web's iteration stops reading the key, the render's reads (the watches) drop it."""
    text = ("{% for s in services() %}{% for i in service(s.name) %}{{ i.address }}{% if i.port == 3 %}"
            "{{ key('k') }}{% endif %}\n{% endfor %}{% endfor %}")
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    apply(store, ({n: [("127.0.0.1", 3 if n == "web" else 1, "passing", ())] for n in ("web", "api", "db")},
                  {"k": "v"}), 1)
    memoized = Template("t", text)
    first = outcome(memoized, store)
    assert first == outcome(Unmemoized("t", text), store)
    assert any(d.name == "k" for d in first[1])
    for index, change in enumerate(({"web": [("127.0.0.2", 1, "passing", ())]},  # web stops reading the key
                                    {"api": [("127.0.0.3", 1, "passing", ())]},  # the loop is checked whole
                                    {"web": [("127.0.0.2", 3, "passing", ())]}), 2):  # and reads it again
        apply(store, (change, {}), index)
        got = outcome(memoized, store)
        assert got == outcome(Unmemoized("t", text), store)
        assert any(d.name == "k" for d in got[1]) == (index == 4)


def test_a_loop_checked_whole_lends_its_iterations_to_the_next_render_that_cannot_check_it_whole() -> None:
    """A whole loop's kept iterations are not copied one by one into the render's entries: they stay findable
    through the loop, in the render that checked it and in the next (here the service list moved, so the next
    render runs the loop one item at a time and finds them there)."""
    store = Store()
    store.catalogs[None] = Catalog(datacenter="dc1")
    apply(store, ({f"s{n}": [("127.0.0.1", n % 3 + 1, "passing", ())] for n in range(50)}, {}), 1)
    t = Template("t", EVERY_SERVICE_TEMPLATE)
    outcome(t, store)
    apply(store, ({"s7": [("127.0.0.2", 9, "passing", ())]}, {}), 2)
    outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (49, 51) and len(t.memo.before) < 50  # lent, not copied
    apply(store, ({"s50": [("127.0.0.3", 1, "passing", ())]}, {}), 3)
    third = outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (99, 52)
    assert third == outcome(Unmemoized("t", EVERY_SERVICE_TEMPLATE), store)
