"""Go strings in Python: bytes, runes, Go's quoting (strconv.Quote) and unquoting of literals.

A Go string is bytes; a Python str is code points. We hold a Go string as the str its UTF-8 decodes to, with
every byte that is not UTF-8 kept as a surrogateescape code point (U+DC80..U+DCFF), so byte counts, byte
slicing and printing are exactly Go's, and `go_bytes` gives back Go's bytes.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from portside.gotemplate import unitables

RUNE_ERROR = 0xFFFD
MAX_RUNE = 0x10FFFF
_HEX = "0123456789abcdef"


class SyntaxErr(ValueError):
    """strconv.ErrSyntax: Go's text for it is "invalid syntax"."""

    def __init__(self) -> None:
        super().__init__("invalid syntax")


def go_bytes(s: str) -> bytes:
    """The bytes Go holds for `s` (a code point that no Go string can hold becomes U+FFFD)."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "".join(c if not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF else "\ufffd"
                       for c in s).encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def byte_len(s: str) -> int:
    return len(s) if s.isascii() else len(go_bytes(s))


def runes(s: str) -> Iterator[tuple[int, int]]:
    """(rune, width in bytes) as Go's `for range` decodes s; a stray byte is (RuneError, 1)."""
    for ch in s:
        c = ord(ch)
        if c < 0x80:
            yield c, 1
        elif 0xD800 <= c <= 0xDFFF:
            yield RUNE_ERROR, 1
        else:
            yield c, 2 if c < 0x800 else 3 if c < 0x10000 else 4


def rune_count(s: str) -> int:
    return len(s)


def encode_rune(r: int) -> str:
    """utf8.AppendRune: an invalid rune (negative, surrogate, too large) is written as U+FFFD."""
    if r < 0 or r > MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        r = RUNE_ERROR
    return chr(r)


def is_print(r: int) -> bool:
    """unicode.IsPrint / strconv.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space, by Go's
    own Unicode tables."""
    if r < 0x80:
        return 0x20 <= r <= 0x7E
    return bisect_right(unitables.PRINT, r) & 1 == 1


def is_ident_char(c: str) -> bool:
    """A letter, a digit or '_' (Go's lexer's isAlphaNumeric), by Go's own Unicode tables."""
    if c < "\x80":
        return c.isalnum() or c == "_"
    return c != "" and bisect_right(unitables.ALNUM, ord(c)) & 1 == 1


def _escape_rune(out: list[str], r: int, quote: str, ascii_only: bool) -> None:
    if r == ord(quote) or r == 0x5C:
        out.append("\\" + chr(r))
        return
    if ascii_only:
        if r < 0x80 and is_print(r):
            out.append(chr(r))
            return
    elif is_print(r):
        out.append(chr(r))
        return
    simple = _SIMPLE_ESCAPES.get(r)
    if simple:
        out.append(simple)
    elif r < 0x20 or r == 0x7F:
        out.append("\\x" + _HEX[r >> 4] + _HEX[r & 0xF])
    else:
        if r > MAX_RUNE or 0xD800 <= r <= 0xDFFF:
            r = RUNE_ERROR
        out.append(f"\\u{r:04x}" if r < 0x10000 else f"\\U{r:08x}")


_SIMPLE_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote (and QuoteToASCII): a double-quoted Go string literal."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    out = ['"']
    for ch in s:
        c = ord(ch)
        if 0xDC80 <= c <= 0xDCFF:
            out.append("\\x" + _HEX[(c - 0xDC00) >> 4] + _HEX[c & 0xF])
        else:
            _escape_rune(out, c, '"', ascii_only)
    out.append('"')
    return "".join(out)


def quote_rune(r: int, ascii_only: bool = False) -> str:
    """strconv.QuoteRune (and QuoteRuneToASCII)."""
    if r < 0 or r > MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        r = RUNE_ERROR
    out = ["'"]
    _escape_rune(out, r, "'", ascii_only)
    out.append("'")
    return "".join(out)


def can_backquote(s: str) -> bool:
    for ch in s:
        c = ord(ch)
        if c == 0xFEFF or 0xD800 <= c <= 0xDFFF:
            return False
        if (c < 0x20 and c != 9) or c == 0x60 or c == 0x7F:
            return False
    return True


def _unquote_char(b: bytes, i: int, quote: int) -> tuple[bytes, int]:
    """strconv.UnquoteChar on b[i:]: (the bytes it stands for, the index after it); SyntaxErr if malformed."""
    if i >= len(b):
        raise SyntaxErr()
    c = b[i]
    if c == quote and quote in (0x27, 0x22):
        raise SyntaxErr()
    if c >= 0x80:
        j = i + 1
        while j < len(b) and 0x80 <= b[j] < 0xC0 and j - i < 4:
            j += 1
        return b[i:j], j
    if c != 0x5C:
        return b[i:i + 1], i + 1
    if i + 1 >= len(b):
        raise SyntaxErr()
    c = b[i + 1]
    i += 2
    simple = {0x61: 7, 0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13, 0x74: 9, 0x76: 11, 0x5C: 0x5C}.get(c)
    if simple is not None:
        return bytes([simple]), i
    if c in (0x78, 0x75, 0x55):  # x u U
        n = {0x78: 2, 0x75: 4, 0x55: 8}[c]
        digits = b[i:i + n].decode("ascii", "replace")
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise SyntaxErr()
        v = int(digits, 16)
        if c == 0x78:
            return bytes([v]), i + n
        if v > MAX_RUNE or 0xD800 <= v <= 0xDFFF:
            raise SyntaxErr()
        return chr(v).encode("utf-8"), i + n
    if 0x30 <= c <= 0x37:
        octal = b[i:i + 2]
        if len(octal) < 2 or any(not 0x30 <= d <= 0x37 for d in octal):
            raise SyntaxErr()
        v = ((c - 0x30) << 6) | ((octal[0] - 0x30) << 3) | (octal[1] - 0x30)
        if v > 255:
            raise SyntaxErr()
        return bytes([v]), i + 2
    if c in (0x27, 0x22) and c == quote:
        return bytes([c]), i
    raise SyntaxErr()


def unquote(lit: str) -> str:
    """strconv.Unquote of a "..." or `...` literal (raw strings lose their carriage returns, as in Go)."""
    if len(lit) < 2 or lit[0] != lit[-1] or lit[0] not in "\"`":
        raise SyntaxErr()
    if lit[0] == "`":
        body = lit[1:-1]
        if "`" in body:
            raise SyntaxErr()
        return body.replace("\r", "")
    b = go_bytes(lit)
    out = bytearray()
    i, end = 1, len(b) - 1
    while i < end:
        if b[i] == 0x0A:
            raise SyntaxErr()
        part, i = _unquote_char(b, i, 0x22)
        out += part
    if i != end:
        raise SyntaxErr()
    return from_bytes(bytes(out))


def unquote_char_constant(lit: str) -> int:
    """The rune of a character constant such as 'a' or '\\n' (Go's parser: UnquoteChar, then the tail "'")."""
    b = go_bytes(lit)
    part, i = _unquote_char(b, 1, 0x27)
    if b[i:] != b"'":
        raise ValueError(f"malformed character constant: {lit}")
    if len(part) == 1:
        return part[0]
    text = from_bytes(part)
    return ord(text) if len(text) == 1 and not 0xDC80 <= ord(text) <= 0xDCFF else RUNE_ERROR
