"""Memo sites (portside.gotemplate.memo): an execution with a memo writes what one without it writes."""

from __future__ import annotations

from typing import Any

import pytest

from portside.gotemplate import ExecError, Template


class KeepAll:
    """A RangeMemo that keeps every iteration for good (its caller vouches that nothing changes)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[int, Any], str] = {}
        self.hits = self.runs = self.aborts = self.walks = 0
        self.walked_done: list[bool] = []

    def get(self, site: int, key: tuple[Any, ...]) -> str | None:
        text = self.kept.get((site, _hashable(key)))
        self.hits += text is not None
        return text

    def start(self) -> Any:
        self.runs += 1
        return None

    def keep(self, site: int, key: tuple[Any, ...], text: str, token: Any) -> None:
        self.kept[(site, _hashable(key))] = text

    def abort(self, token: Any) -> None:
        self.aborts += 1

    def walk(self, site: int, iface: bool, elems: list[Any]) -> tuple[list[str], list[int]] | None:
        self.walks += 1
        return None

    def walked(self, site: int, iface: bool, elems: list[Any], done: bool) -> None:
        self.walked_done.append(done)


def _hashable(key: tuple[Any, ...]) -> Any:
    return tuple(map(repr, key))


@pytest.mark.parametrize(("text", "data"), [
    ("{{ range . }}<{{ . }}>{{ end }}", ["a", "b", "a"]),
    ("{{ range $i, $e := . }}{{ $i }}={{ $e }};{{ end }}", ["x", "y"]),
    ("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ else }}none{{ end }}", {"b": 2, "a": 1}),
    ("{{ range . }}{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ . }}{{ end }}|{{ end }}", [[1, 2, 3], [2]]),
    ("{{ range . }}{{ $x := len . }}{{ if $x }}{{ $x = 7 }}{{ end }}{{ $x }}{{ end }}", ["ab", ""]),
    ("{{ range . }}{{ else }}empty{{ end }}", []),
])
def test_a_memo_site_writes_what_the_plain_range_writes(text: str, data: Any) -> None:
    plain = Template("t").parse(text).execute(data)
    memoized = Template("t").memoize(frozenset({"eq", "len"})).parse(text)
    memo = KeepAll()
    assert memoized.execute(data, memo=memo) == plain
    runs = memo.runs
    assert memoized.execute(data, memo=memo) == plain
    assert memo.runs == runs and (memo.hits > 0 or not data)  # the second execution ran nothing again


def test_an_iteration_that_fails_is_aborted_and_what_it_wrote_is_the_errors_output() -> None:
    text = "{{ range . }}[{{ index . 5 }}]{{ end }}"
    with pytest.raises(ExecError) as plain:
        Template("t").parse(text).execute([[1]])
    memo = KeepAll()
    with pytest.raises(ExecError) as memoized:
        Template("t").memoize(frozenset({"index"})).parse(text).execute([[1]], memo=memo)
    assert (str(memoized.value), memoized.value.output) == (str(plain.value), plain.value.output) == (
        str(plain.value), "[")
    assert (memo.aborts, memo.kept) == (1, {})


def test_a_function_not_named_pure_makes_no_site() -> None:
    memo = KeepAll()
    t = Template("t", funcs={"tick": lambda: "t"}).memoize(frozenset()).parse("{{ range . }}{{ tick }}{{ end }}")
    t.execute([1, 2], memo=memo)
    assert memo.runs == 0


class Walks(KeepAll):
    """A RangeMemo that answers a whole range with the texts given, `again` left for the iterations to decide."""

    def __init__(self, texts: list[str], again: list[int]) -> None:
        super().__init__()
        self.answer = (texts, again)

    def walk(self, site: int, iface: bool, elems: list[Any]) -> tuple[list[str], list[int]] | None:
        self.walks += 1
        return self.answer


@pytest.mark.parametrize("data", [["a", "b", "c"], ["a", "x", "c"], ["x", "b", "c"], ["a", "b", "x"]])
def test_a_range_answered_whole_writes_what_the_plain_range_writes_even_when_an_iteration_fails(data: Any) -> None:
    """The kept texts go out as they are and the stale ones are overwritten; an iteration that raises leaves
    what came before it and what it wrote, as the plain range does ("x" fails after writing "<")."""
    text = '{{ range . }}<{{ if eq . "x" }}{{ index "" 5 }}{{ end }}{{ . }}>{{ end }}'
    again = [data.index("x")] if "x" in data else [1]
    kept = ["<a>", "<b>", "<c>"]
    memo = Walks([t if i not in again else "<stale>" for i, t in enumerate(kept)], again)
    memoized = Template("t").memoize(frozenset({"eq", "index"})).parse(text)
    try:
        want = Template("t").parse(text).execute(data)
    except ExecError as plain:
        with pytest.raises(ExecError) as raised:
            memoized.execute(data, memo=memo)
        assert (str(raised.value), raised.value.output) == (str(plain), plain.output)
        assert memo.walked_done == [False]
        return
    assert memoized.execute(data, memo=memo) == want == "<a><b><c>" and memo.walked_done == [True]
    assert memo.runs == 1 and memo.kept  # only the stale one ran
