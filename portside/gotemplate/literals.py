"""Number and character constants of the template language -> NumberNode (Go's parse.newNumber).

A constant records every way it can be read (int, uint, float, complex), as Go's does: `3` suits an int, uint or
float parameter; `1e3` is also an integer; `'a'` is the number 97.
"""

from __future__ import annotations

import math

from portside.gotemplate import nodes as N
from portside.gotemplate.gonum import INT64_MAX, INT64_MIN, UINT64_MAX, parse_float, parse_int, parse_uint
from portside.gotemplate.gostr import SyntaxErr, quote, unquote_char_constant


def _int_views(f: float) -> dict[str, object]:
    """The integer readings of a float constant (Go: float64(int64(f)) == f)."""
    out: dict[str, object] = {}
    if math.isfinite(f) and f == int(f):
        i = int(f)
        if INT64_MIN <= i <= INT64_MAX:
            out.update(is_int=True, int64=i)
        if 0 <= i <= UINT64_MAX:
            out.update(is_uint=True, uint64=i)
    return out


def _complex(pos: int, src: N.Source, text: str, value: complex) -> N.NumberNode:
    fields: dict[str, object] = {"is_complex": True, "complex128": value}
    if value.imag == 0:
        fields.update(is_float=True, float64=value.real, **_int_views(value.real))
    return N.NumberNode(pos, src, text, **fields)  # type: ignore[arg-type]


def _parse_complex(text: str) -> complex:
    """fmt.Sscan of a complex literal "1+2i" (the lexer has checked its shape)."""
    try:
        return complex(text.replace("_", "")[:-1] + "j")
    except ValueError:
        raise ValueError(f"expected imaginary part: {text}") from None


def new_number(pos: int, src: N.Source, text: str, is_char: bool, is_complex: bool) -> N.NumberNode:
    """ValueError with Go's message when the constant is malformed or out of range."""
    if is_char:
        try:
            r = unquote_char_constant(text)
        except SyntaxErr as e:
            raise ValueError(str(e)) from None
        return N.NumberNode(pos, src, text, is_int=True, is_uint=True, is_float=True, int64=r, uint64=r,
                            float64=float(r))
    if is_complex:
        return _complex(pos, src, text, _parse_complex(text))
    if text.endswith("i"):
        f = parse_float(text[:-1])
        if f is not None:
            return _complex(pos, src, text, complex(0, f))
    fields: dict[str, object] = {}
    u = parse_uint(text)
    if u is not None:
        fields.update(is_uint=True, uint64=u)
    i = parse_int(text)
    if i is not None:
        fields.update(is_int=True, int64=i)
        if i == 0:
            fields.update(is_uint=True, uint64=u or 0)
    if "is_int" in fields or "is_uint" in fields:
        fields.update(is_float=True, float64=float(fields.get("int64", fields.get("uint64", 0))))  # type: ignore
    else:
        f = parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise ValueError(f"integer overflow: {quote(text)}")
            fields.update(is_float=True, float64=f, **_int_views(f))
    if not fields:
        raise ValueError(f"illegal number syntax: {quote(text)}")
    return N.NumberNode(pos, src, text, **fields)  # type: ignore[arg-type]
