"""The Go loop memo: which ranges it takes, and that a memoized render is always the render without it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consul_templates.ctfuncs.queries import KeyQuery, PrefixQuery
from consul_templates.ctfuncs.source import dependency
from consul_templates.functions import Dependency
from consul_templates.gomemo import GoLoopMemo
from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, RenderInput
from consul_templates.watch import Store
from portside.gotemplate import Template
from testbed.bulk import EVERY_SERVICE_CTMPL
from tests.unit.consul_templates import memo_steps as ms
from tests.unit.consul_templates.memo_steps import empty_store, outcome

EVERY = EVERY_SERVICE_CTMPL
OUTER_VAR = ('{{ range services }}{{ $s := . }}{{ range service .Name }}{{ $s.Name }} {{ .Address }}:{{ .Port }}'
             '{{ if .Tags }} {{ join "," .Tags }}{{ end }}\n{{ else }}{{ .Name }} none\n{{ end }}{{ end }}')
INDEXED = ('{{ range $i, $s := services }}{{ $i }} {{ range service $s.Name "any" }}{{ .Address }}:{{ .Port }}/'
           '{{ .Status }} {{ end }}\n{{ end }}')
FREE_VAR = ('{{ $w := keyOrDefault "weight" "1" }}{{ range services }}{{ range service .Name }}'
            'server {{ .Address }}:{{ .Port }} weight={{ $w }};\n{{ end }}{{ end }}')
KEY_INSIDE = '{{ range services }}{{ .Name }}={{ keyOrDefault (print "svc/" .Name) "none" }}\n{{ end }}'
KEY_BLOCKS = '{{ range services }}{{ .Name }}={{ key (print "svc/" .Name) }}\n{{ end }}'
TAGGED = ('{{ range services }}{{ if .Tags | contains "a" }}{{ .Name | toUpper }}:'
          '{{ range service (print "a." .Name) }} {{ .Address }}{{ end }}\n{{ end }}{{ end }}')
BREAKS = '{{ range services }}{{ if eq .Name "db" }}{{ break }}{{ end }}{{ .Name }} {{ end }}'
SAFE_LS = '{{ range services }}{{ .Name }}:{{ range safeLs (print "svc/" .Name) }}{{ .Key }}{{ end }}{{ end }}'
SCRATCH = '{{ range services }}{{ scratch.Set "last" .Name }}{{ .Name }},{{ end }} last={{ scratch.Get "last" }}'
TEMPLATES = [EVERY, OUTER_VAR, INDEXED, FREE_VAR, KEY_INSIDE, KEY_BLOCKS, TAGGED, BREAKS, SCRATCH]


def compile_go(text: str) -> GoTemplate:
    return GoTemplate("t", text, CompileOptions(guard=GUARDS["nginx"]))


class Unmemoized(GoTemplate):
    """The template compiled as written: the reference a memoized render must equal."""

    def __init__(self, text: str) -> None:
        super().__init__("t", text, CompileOptions(guard=GUARDS["nginx"]))
        self.compiled.memoize(None)


def sites(text: str) -> int:
    return _count_sites(compile_go(text))


def _count_sites(t: GoTemplate) -> int:
    compiled = t.compiled.compiled()
    assert compiled is not None
    return _closures(compiled.body, "run_items", set())


def _closures(fn: Any, name: str, seen: set[int]) -> int:
    """Memo sites among the compiled closures: a run_items whose closure holds the plain one."""
    if id(fn) in seen or not callable(fn):
        return 0
    seen.add(id(fn))
    cells = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _filled(c)]
    found = int(getattr(fn, "__name__", "") == name and getattr(fn, "__qualname__", "").startswith("memo_items"))
    for value in cells:
        for item in value if isinstance(value, tuple) else (value,):
            found += _closures(item, name, seen)
    return found


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("text", "count"), [
    (EVERY, 1),  # the outer range: its inner range is part of its body
    (OUTER_VAR, 1),  # $s is declared inside the body
    (INDEXED, 1),
    (FREE_VAR, 0),  # $w is declared outside: every range reads it
    (KEY_INSIDE, 1),
    (TAGGED, 1),
    (BREAKS, 0),  # a break of the range itself: its iterations are not independent
    (SCRATCH, 0),  # scratch holds state between iterations
    ('{{ range services }}{{ range $i := service .Name }}{{ break }}{{ end }}{{ end }}', 1),  # the inner one's
    ('{{ range services }}{{ $ }}{{ end }}', 0),
    ('{{ $n := 0 }}{{ range services }}{{ $n = 1 }}{{ end }}', 0),
    ('{{ range services }}{{ env "HOME" }}{{ end }}', 0),
    ('{{ range services }}{{ timestamp }}{{ end }}', 0),
    ('{{ range services }}{{ executeTemplate "x" }}{{ end }}{{ define "x" }}x{{ end }}', 0),
    ('{{ range services }}{{ template "x" . }}{{ end }}{{ define "x" }}x{{ end }}', 0),
    ('{{ range $x := services }}{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}{{ end }}', 1),
    # an inner scope's variable is gone at its {{end}}: the later $y is the outer one
    ('{{ $y := 0 }}{{ range services }}{{ if true }}{{ $y := 1 }}{{ $y }}{{ end }}{{ $y }}{{ end }}', 0),
    ('{{ range services }}{{ call .Name }}{{ end }}', 0),
])
def test_ranges_whose_text_depends_only_on_the_element_and_reads_are_sites(text: str, count: int) -> None:
    assert sites(text) == count


def test_without_memoize_the_engine_compiles_no_site() -> None:
    t = Template("t").parse("{{ range . }}{{ . }}{{ end }}")
    compiled = t.compiled()
    assert compiled is not None and _closures(compiled.body, "run_items", set()) == 0


def go_key(key: str) -> Dependency:
    return dependency(KeyQuery.parse(key))


def go_apply(store: Store, change: tuple[dict, dict], index: int) -> None:
    ms.apply(store, change, index, go_key)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(ms.step, min_size=1, max_size=6))
def test_a_memoized_go_render_equals_the_plain_render_after_every_change(text: str, steps: list) -> None:
    ms.renders_alike(compile_go(text), Unmemoized(text), empty_store(), steps, 1, go_key)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TEMPLATES), st.lists(ms.benign_step, min_size=2, max_size=6))
def test_a_memoized_go_render_equals_the_plain_render_when_nothing_is_dropped(text: str, steps: list) -> None:
    ms.renders_alike(compile_go(text), Unmemoized(text), ms.seeded_store(go_key), steps, 2, go_key)


def test_one_changed_service_runs_one_iteration_again() -> None:
    store = empty_store()
    go_apply(store, ({f"s{n}": [("127.0.0.1", n % 3 + 1, "passing", ())] for n in range(50)}, {}), 1)
    t = compile_go(EVERY)
    first = outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (0, 50)
    go_apply(store, ({"s7": [("127.0.0.2", 9, "passing", ())]}, {}), 2)
    second = outcome(t, store)
    assert (t.memo.hits, t.memo.misses) == (49, 51)
    assert second == outcome(Unmemoized(EVERY), store) != first
    assert "upstream s7 {\n    server 127.0.0.2:9;\n}" in second[0]


def test_a_blocked_read_is_never_kept() -> None:
    store = empty_store()
    go_apply(store, ({"web": [("127.0.0.1", 1, "passing", ())], "db": [("127.0.0.1", 1, "passing", ())]},
                     {"svc/web": "1"}), 1)
    t = compile_go(KEY_BLOCKS)
    assert outcome(t, store)[0] is None  # svc/db does not exist: the render waits for it
    assert outcome(t, store)[0] is None
    assert t.memo.hits == 1  # web's iteration, kept; db's ran each time
    go_apply(store, ({}, {"svc/db": "2"}), 2)
    assert outcome(t, store)[0] == "db=2\nweb=1\n"


def test_an_iteration_that_blocked_the_render_is_never_kept() -> None:
    """safeLs of an empty prefix answers (an empty list) and blocks: kept, it would unblock the next render."""
    store = empty_store()
    go_apply(store, ({"web": [("127.0.0.1", 1, "passing", ())]}, {}), 1)
    store.put(dependency(PrefixQuery.parse("svc/web")), [])
    t = compile_go(SAFE_LS)
    assert outcome(t, store)[0] is None
    assert outcome(t, store)[0] is None
    assert outcome(t, store) == outcome(Unmemoized(SAFE_LS), store)


def test_elements_that_may_change_while_alive_are_not_keyed() -> None:
    memo = GoLoopMemo()
    assert memo.get(1, (False, None, [1])) is None
    assert memo.get(1, (False, None, {"a": 1})) is None


def test_render_input_errors_keep_the_memo_of_the_iterations_that_ran() -> None:
    store = empty_store()
    go_apply(store, ({"web": [("127.0.0.1", 1, "passing", ())]}, {}), 1)
    t = compile_go('{{ range services }}{{ .Name }}{{ end }}{{ if eq (len services) 2 }}{{ fail }}{{ end }}'
                   .replace("{{ fail }}", '{{ index "x" 5 }}'))
    assert t.render(RenderInput(store, {})).text == "web"
    go_apply(store, ({"db": [("127.0.0.1", 1, "passing", ())]}, {}), 2)
    with pytest.raises(Exception, match="index out of range"):
        t.render(RenderInput(store, {}))
    assert t.memo.before  # what ran before the error is kept for the next render


def test_a_range_walked_whole_whose_changed_iteration_cannot_be_kept_reads_and_renders_as_the_plain_one() -> None:
    text = ('{{ range services }}{{ range service .Name }}{{ .Address }}{{ if eq .Port 3 }}{{ keyOrDefault "k" "x" }}'
            '{{ end }}\n{{ end }}{{ end }}')
    store = empty_store()
    go_apply(store, ({n: [("127.0.0.1", 1, "passing", ())] for n in ("web", "api", "db")}, {}), 1)
    memoized = compile_go(text)
    for index, change in enumerate([{"web": [("127.0.0.2", 1, "passing", ())]},  # now walked whole
                                    {"web": [("127.0.0.2", 3, "passing", ())]},  # reads a key with no data
                                    {"web": [("127.0.0.3", 3, "passing", ())]},
                                    {"web": [("127.0.0.3", 1, "passing", ())]}], start=2):
        assert outcome(memoized, store) == outcome(Unmemoized(text), store)
        go_apply(store, (change, {}), index)
    assert outcome(memoized, store) == outcome(Unmemoized(text), store)
    assert memoized.memo.hits > 0



def test_a_range_walked_whole_keeps_the_iterations_it_tests_one_by_one_while_their_reads_hold() -> None:
    """An iteration the range cannot test by its service alone (here it reads a key too) is tested by its reads
    on every render, and kept while they hold."""
    text = ('{{ range services }}{{ .Name }}={{ keyOrDefault (print "k/" .Name) "x" }}:'
            '{{ range service .Name }}{{ .Port }}{{ end }}\n{{ end }}')
    store = empty_store()
    go_apply(store, ({f"s{n}": [("127.0.0.1", n % 3 + 1, "passing", ())] for n in range(50)},
                     {f"k/s{n}": str(n) for n in range(50)}), 1)
    t = compile_go(text)
    outcome(t, store)
    for index, port in enumerate((9, 8), start=2):
        go_apply(store, ({"s7": [("127.0.0.2", port, "passing", ())]}, {}), index)
        assert outcome(t, store) == outcome(Unmemoized(text), store)
    assert (t.memo.hits, t.memo.misses) == (98, 52)
