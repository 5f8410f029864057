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
        self.walked_texts: list[list[str] | None] = []

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

    def walk(self, site: int, iface: bool, elems: list[Any]) -> list[str | None] | None:
        self.walks += 1
        return None

    def walked(self, site: int, iface: bool, elems: list[Any], texts: list[str] | None) -> None:
        self.walked_texts.append(texts)


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
