"""The escapers behind the `html`, `js` and `urlquery` builtins, byte for byte as Go's text/template writes them
(HTMLEscapeString, JSEscapeString, url.QueryEscape)."""

from __future__ import annotations

from urllib.parse import quote_plus

from portside.gotemplate.gostr import go_bytes, is_print

_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_TABLE = str.maketrans(_HTML)

_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}


def html_escape(s: str) -> str:
    """Go's template.HTMLEscapeString: " ' & < > and NUL (which becomes U+FFFD)."""
    return s.translate(_HTML_TABLE)


def js_escape(s: str) -> str:
    """Go's template.JSEscapeString: quotes, backslash, < > & =, control characters as \\u00XX, and runes
    that are not printable as \\uXXXX; other non-ASCII runes pass unchanged."""
    out: list[str] = []
    for ch in s:
        c = ord(ch)
        if 0x20 <= c < 0x80:
            out.append(_JS.get(ch, ch))
        elif c < 0x20:
            out.append(f"\\u00{c:02X}")
        elif 0xDC80 <= c <= 0xDCFF or is_print(c):
            out.append(ch)  # a stray byte decodes to U+FFFD, which is printable: Go copies the byte
        else:
            out.append(f"\\u{c:04X}")
    return "".join(out)


def url_query_escape(s: str) -> str:
    """Go's url.QueryEscape: unreserved bytes stay, space is '+', every other byte is %XX."""
    return quote_plus(go_bytes(s), safe="")
