"""consul-template's string functions with Go's `strings` semantics (where Python's differ: simple per-rune
case mapping, Go's white space set, Split on "" by runes, Trim by rune set, indent by bytes)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from consul_templates.ctfuncs import goregex
from portside.gotemplate import GoMap, GoSlice

# unicode.IsSpace: Python's str.isspace() also counts U+001C..U+001F, which Go does not.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
           "\u2028\u2029\u202f\u205f\u3000"


def _map_runes(s: str, upper: bool) -> str:
    """strings.ToUpper/ToLower: unicode.To{Upper,Lower} rune by rune (one rune in, one rune out)."""
    if s.isascii():
        return s.upper() if upper else s.lower()
    out = []
    for ch in s:
        mapped = ch.upper() if upper else ch.lower()
        if len(mapped) != 1:
            mapped = "i" if ch == "\u0130" and not upper else ch
        out.append(mapped)
    return "".join(out)


def to_upper(s: str) -> str:
    return _map_runes(s, upper=True)


def to_lower(s: str) -> str:
    return _map_runes(s, upper=False)


def _word_char(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LMN" or ch == "_" or cat == "Pc"


_MID_LETTER = frozenset("'.:\u00b7\u0387\u05f4\u2019\u2027\ufe13\ufe55\uff07\uff0e\uff1a")
_MID_NUM = frozenset(",;.\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")


def to_title(s: str) -> str:
    """cases.Title(language.Und, cases.NoLower): the first letter of each word upper-cased (title case),
    the rest kept. Words as Unicode word breaking sees them: letters, digits and `_` together, an apostrophe
    or a dot between letters and a comma or dot between digits inside a word; digits before the first letter
    do not count ("3rd" -> "3Rd")."""
    out = []
    in_word = titled = False
    for i, ch in enumerate(s):
        if _word_char(ch):
            if not in_word:
                in_word, titled = True, False
            if not titled and ch.isalpha():
                out.append(_title_rune(ch))
                titled = True
                continue
        elif not (in_word and 0 < i < len(s) - 1 and _joins(s[i - 1], ch, s[i + 1])):
            in_word = False
        out.append(ch)
    return "".join(out)


def _joins(before: str, mid: str, after: str) -> bool:
    if mid in _MID_LETTER and before.isalpha() and after.isalpha():
        return True
    return mid in _MID_NUM and before.isdigit() and after.isdigit()


def _title_rune(ch: str) -> str:
    t = ch.title()
    return t if len(t) == 1 else ch


def trim_space(s: str) -> str:
    return s.strip(GO_SPACE)


def join(sep: str, items: list[str]) -> str:
    return sep.join(items)


def trim(cutset: str, s: str) -> str:
    return s.strip(cutset) if cutset else s


def trim_prefix(prefix: str, s: str) -> str:
    return s[len(prefix):] if prefix and s.startswith(prefix) else s


def trim_suffix(suffix: str, s: str) -> str:
    return s[:-len(suffix)] if suffix and s.endswith(suffix) else s


def go_split(s: str, sep: str) -> list[str]:
    """strings.Split: an empty separator splits into runes."""
    return list(s) if sep == "" else s.split(sep)


def split(sep: str, s: str) -> GoSlice:
    s = trim_space(s)
    return GoSlice([] if s == "" else go_split(s, sep), elem="string")


def split_to_map(sep1: str, sep2: str, s: str) -> GoMap:
    s = trim_space(s)
    out = GoMap(key="string", elem="string")
    if s == "":
        return out
    for item in go_split(s, sep1):
        k, found, v = item.partition(sep2) if sep2 else ("", True, item)
        if found:
            out[k] = v
    return out


def replace_all(old: str, new: str, s: str) -> str:
    return s.replace(old, new)


def regex_replace_all(pattern: str, replacement: str, s: str) -> str:
    return goregex.replace_all(goregex.compile_go(pattern), s, replacement)


def regex_match(pattern: str, s: str) -> bool:
    return goregex.compile_go(pattern).search(s) is not None


def indent(spaces: int, s: str) -> str:
    """Prefix every line that is not empty with `spaces` spaces (consul-template's byte loop)."""
    if spaces < 0:
        raise ValueError("indent value must be a positive integer")
    prefix = " " * spaces
    return re.sub(r"(?m)^(?!\n|$)", prefix, s) if s else s


def _in(haystack: Any, needle: Any) -> bool:
    """consul-template's `in`: a list holds an equal int (any int kind), float, or string of the same type;
    a string contains a substring."""
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if not isinstance(haystack, list | tuple):
        return False
    for item in haystack:
        if isinstance(item, bool) or isinstance(needle, bool):
            continue
        if isinstance(item, str):
            if isinstance(needle, str) and item == needle:
                return True
        elif isinstance(item, int) and type(item).__name__ != "Uint64":
            if isinstance(needle, int) and type(needle).__name__ != "Uint64" and item == needle:
                return True
        elif isinstance(item, float) and isinstance(needle, float) and item == needle:
            return True
    return False


def in_(haystack: Any, needle: Any) -> bool:
    return _in(haystack, needle)


def contains(needle: Any, haystack: Any) -> bool:
    return _in(haystack, needle)


def contains_some(ret_true: bool, invert: bool) -> Any:
    def fn(values: list[Any], haystack: Any) -> bool:
        for v in values:
            if _in(haystack, v) != invert:
                return not ret_true
        return ret_true
    return fn
