"""Go's regexp (RE2 syntax) on Python's re: translated where the two mean the same, refused where they do not.

Translated: `\\z` -> `\\Z`; `$` outside (?m) -> end of text only (Python's `$` also matches before a final
newline); `\\d \\w \\s \\b` are ASCII in Go (Python: Unicode); POSIX classes `[[:alpha:]]`; `\\Q...\\E`;
`\\x{263a}`; `(?<name>...)`. Replacement text uses Go's `$1`, `${1}`, `$name`, `$$` (a group that does not
exist is empty), and ReplaceAll skips an empty match right after a match, as Go does.
Refused with a clear error: `\\p{...}` Unicode classes, `(?U)`, flags in the middle of a pattern, repeat
counts over 1000, and Python syntax Go does not have (backreferences `\\1`, lookarounds, `(?#`, `\\Z`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_SIMPLE_ESCAPES = set("afnrtv\\.+*?()|[]{}^$-")


class RegexError(ValueError):
    """A pattern Go refuses, or one whose meaning would differ here; the text says which."""


def _unsupported(what: str, pattern: str) -> RegexError:
    return RegexError(f"error parsing regexp: {what} in `{pattern}` (not supported by consul-templates)")


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The translation of the escape at pattern[i] == '\\'; returns (text, next index)."""
    if i + 1 >= len(pattern):
        raise RegexError("error parsing regexp: trailing backslash at end of expression: ``")
    c = pattern[i + 1]
    if c in _PERL or c.lower() in _PERL:
        ranges = _PERL[c.lower()]
        if in_class:
            if c.isupper():
                raise _unsupported(f"negated class \\{c} inside brackets", pattern)
            return ranges, i + 2
        return (f"[^{ranges}]" if c.isupper() else f"[{ranges}]"), i + 2
    if c in "bB" and not in_class:
        return f"(?a:\\{c})", i + 2
    if c == "A" and not in_class:
        return "\\A", i + 2
    if c == "z" and not in_class:
        return "\\Z", i + 2
    if c == "Q":
        end = pattern.find("\\E", i + 2)
        literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
        return re.escape(literal), len(pattern) if end < 0 else end + 2
    if c == "x":
        if pattern[i + 2:i + 3] == "{":
            end = pattern.find("}", i + 3)
            if end < 0:
                raise RegexError(f"error parsing regexp: invalid escape sequence: `{pattern[i:]}`")
            return f"\\U{int(pattern[i + 3:end], 16):08x}", end + 1
        return pattern[i:i + 4], i + 4
    if c in "pP":
        raise _unsupported("Unicode class \\p", pattern)
    if c in "01234567":
        digits, j = c, i + 2
        while j < len(pattern) and len(digits) < 3 and pattern[j] in "01234567":
            digits += pattern[j]
            j += 1
        if c != "0" and len(digits) == 1:  # \1..\7 alone: a backreference, which RE2 does not have
            raise RegexError(f"error parsing regexp: invalid escape sequence: `\\{c}`")
        return f"\\U{int(digits, 8):08x}", j
    if c in _SIMPLE_ESCAPES or (not c.isalnum() and c.isascii()):
        return "\\" + c, i + 2
    raise RegexError(f"error parsing regexp: invalid escape sequence: `\\{c}`")


def _class(pattern: str, i: int) -> tuple[str, int]:
    """A bracket class starting at pattern[i] == '['."""
    out = ["["]
    j = i + 1
    if pattern[j:j + 1] == "^":
        out.append("^")
        j += 1
    first = True
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            name = pattern[j + 2:end] if end > 0 else ""
            negated = name.startswith("^")
            ranges = _POSIX.get(name.lstrip("^"))
            if end < 0 or ranges is None:
                raise RegexError(f"error parsing regexp: invalid character class range: `{pattern[j:end + 2]}`")
            if negated:
                raise _unsupported("negated POSIX class", pattern)
            out.append(ranges)
            j = end + 2
        elif c == "\\":
            text, j = _escape(pattern, j, in_class=True)
            out.append(text)
        elif c == "[":
            out.append("\\[")
            j += 1
        else:
            out.append(c)
            j += 1
    raise RegexError(f"error parsing regexp: missing closing ]: `{pattern[i:]}`")


# Python's words for the mistakes RE2 reports most often, in RE2's words.
_PY_ERRORS = (("missing ), unterminated subpattern", "missing closing )"), ("unbalanced parenthesis", "unexpected )"),
              ("nothing to repeat", "missing argument to repetition operator"),
              ("unterminated character set", "missing closing ]"), ("multiple repeat", "invalid nested repetition "
                                                                                       "operator"))
_FLAGS_RE = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_REPEAT_RE = re.compile(r"\{(\d+)(,(\d*))?\}")


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str) -> re.Pattern[str]:
    """regexp.Compile(pattern) as a Python pattern with the same matches (leftmost-first, like Go's)."""
    out: list[str] = []
    multiline = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            text, i = _escape(pattern, i, in_class=False)
            out.append(text)
        elif c == "[":
            text, i = _class(pattern, i)
            out.append(text)
        elif c == "$":
            out.append("$" if multiline else "\\Z")
            i += 1
        elif c == "{":
            m = _REPEAT_RE.match(pattern, i)
            if m and max(int(m[1]), int(m[3] or 0)) > 1000:
                raise RegexError(f"error parsing regexp: invalid repeat count: `{m[0]}`")
            out.append(m[0] if m else "\\{")
            i = m.end() if m else i + 1
        elif c in "*+?}" and pattern[i + 1:i + 2] == "+":
            raise RegexError(f"error parsing regexp: invalid nested repetition operator: `{c}+`")
        elif c == "(" and pattern.startswith("(?", i):
            text, i, multiline = _group_open(pattern, i, out, multiline)
            out.append(text)
        else:
            out.append(c)
            i += 1
    try:
        return re.compile("".join(out))
    except re.error as exc:
        msg = next((go for py, go in _PY_ERRORS if exc.msg.startswith(py)), exc.msg)
        raise RegexError(f"error parsing regexp: {msg}: `{pattern}`") from None


def _group_open(pattern: str, i: int, out: list[str], multiline: bool) -> tuple[str, int, bool]:
    if pattern.startswith("(?P<", i) or pattern.startswith("(?<", i):
        start = i + (4 if pattern[i + 2] == "P" else 3)
        end = pattern.find(">", start)
        if end < 0:
            raise RegexError(f"error parsing regexp: invalid named capture: `{pattern[i:]}`")
        return f"(?P<{pattern[start:end]}>", end + 1, multiline
    m = _FLAGS_RE.match(pattern, i)
    if m is None:
        raise _unsupported(f"group syntax `{pattern[i:i + 3]}`", pattern)
    on, off, kind = m[1], m[2] or "", m[3]
    if "U" in on + off:
        raise _unsupported("the ungreedy flag (?U)", pattern)
    if kind == ")":
        if out or off:
            raise _unsupported("flags set in the middle of a pattern", pattern)
        multiline = multiline or "m" in on
        return (f"(?{on})" if on else ""), m.end(), multiline
    return f"(?{on}{'-' + off if off else ''}:", m.end(), multiline


_TEMPLATE_RE = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def expander(template: str, pattern: re.Pattern[str]) -> Callable[[re.Match[str]], str]:
    """Go's Regexp.Expand: `$name` takes the longest run of letters, digits and underscores (`$1x` is the
    group named "1x"), `${name}` delimits it, `$$` is a dollar, a malformed `$` stays as written, and a group
    that does not exist or did not match is empty."""
    parts: list[str | int | None] = []
    pos = 0
    for m in _TEMPLATE_RE.finditer(template):
        parts.append(template[pos:m.start()])
        if m[1] == "$":
            parts.append("$")
        else:
            name = m[2] if m[2] is not None else m[3]
            if name.isdigit():
                index = int(name)
                parts.append(index if index <= pattern.groups else None)
            else:
                parts.append(pattern.groupindex.get(name))
        pos = m.end()
    parts.append(template[pos:])

    def expand(match: re.Match[str]) -> str:
        return "".join(p if isinstance(p, str) else (match.group(p) or "") if p is not None else "" for p in parts)

    return expand


def find_spans(pattern: re.Pattern[str], text: str, n: int = -1) -> list[tuple[int, int, re.Match[str]]]:
    """Go's allMatches: successive matches, an empty match right after the previous match skipped, at most n
    (n < 0: all)."""
    spans: list[tuple[int, int, re.Match[str]]] = []
    prev_end = -1
    pos = 0
    while pos <= len(text) and (n < 0 or len(spans) < n):
        m = pattern.search(text, pos)
        if m is None:
            break
        start, end = m.span()
        if not (start == end and start == prev_end):
            spans.append((start, end, m))
        prev_end = end
        pos = pos + 1 if end <= pos else end
    return spans


def split(pattern: re.Pattern[str], text: str, n: int) -> list[str]:
    """Regexp.Split."""
    if n == 0:
        return []
    if pattern.pattern and text == "":
        return [""]
    out: list[str] = []
    beg = end = 0
    for start, stop, _ in find_spans(pattern, text, n):
        if n > 0 and len(out) == n - 1:
            break
        end = start
        if stop != 0:
            out.append(text[beg:end])
        beg = stop
    if end != len(text):
        out.append(text[beg:])
    return out


def replace_all(pattern: re.Pattern[str], text: str, replacement: str) -> str:
    """Regexp.ReplaceAllString: an empty match right after the previous match is not replaced."""
    expand = expander(replacement, pattern)
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(text):
        m = pattern.search(text, search)
        if m is None:
            break
        start, end = m.span()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            out.append(expand(m))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)
