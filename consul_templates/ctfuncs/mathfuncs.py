"""consul-template's arithmetic with Go's rules: `add b a` is a + b (the piped value comes last).

Two integers give an int64 (wrapping at 64 bits, division truncating toward zero, `%` taking the dividend's
sign); two uint64 give a uint64 (wrapping: 3 - 5 is 18446744073709551614); an int with a uint64 gives an
int64; a float anywhere gives a float64 (x / 0.0 is +Inf). An integer division by zero is the Go runtime
error. `modulo` refuses floats; `minimum`/`maximum` return the winner with its own type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from consul_templates.ctfuncs.types import Uint64
from portside.gotemplate import gostr, sprint
from portside.gotemplate.values import type_name

INT, UINT, FLOAT = "int", "uint", "float"
_M64 = 2**64


def _i64(x: int) -> int:
    x &= _M64 - 1
    return x - _M64 if x >= 2**63 else x


def _u64(x: int) -> Uint64:
    return Uint64(x % _M64)


def kind(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, Uint64) or type(v).__name__ == "Uint8":
        return UINT
    if isinstance(v, int):
        return INT
    if isinstance(v, float):
        return FLOAT
    return None


def _unknown(name: str, v: Any) -> ValueError:
    """consul-template's "unknown type for %q (%T)" of a reflect.Value: a string quoted, anything else in fmt's
    bad-verb form, e.g. %!q(bool=true)."""
    go = type_name(v)
    shown = gostr.quote(v) if isinstance(v, str) else "%!q(<invalid reflect.Value>)" if v is None \
        else f"%!q({go}={sprint(v)})"
    return ValueError(f"{name}: unknown type for {shown} ({go})")


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _mod(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    return a - _div(a, b) * b


def _fdiv(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
    "divide": _div, "modulo": _mod,
}
_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b, "divide": _fdiv,
}


def _arith(name: str) -> Callable[[Any, Any], Any]:
    def op(b: Any, a: Any) -> Any:
        ka, kb = kind(a), kind(b)
        if ka is None:
            raise _unknown(name, a)
        if kb is None or (name == "modulo" and kb == FLOAT):
            raise _unknown(name, b)
        if name == "modulo" and ka == FLOAT:
            raise _unknown(name, a)
        if FLOAT in (ka, kb):
            return float(_FLOAT_OPS[name](float(a), float(b)))
        if ka == UINT and kb == UINT:
            return _u64(_INT_OPS[name](int(a), int(b)))
        return _i64(_INT_OPS[name](_i64(int(a)), _i64(int(b))))

    op.__name__ = name
    return op


add, subtract, multiply, divide, modulo = (_arith(n) for n in ("add", "subtract", "multiply", "divide", "modulo"))


def _extreme(name: str, pick_a: Callable[[float, float], bool]) -> Callable[[Any, Any], Any]:
    """minimum/maximum: compare as consul-template does (int64(uint), float64(int)) and return the winner
    converted to its own kind's Go type (int64, uint64 or float64)."""

    def op(b: Any, a: Any) -> Any:
        ka, kb = kind(a), kind(b)
        if ka is None:
            raise _unknown(name, a)
        if kb is None:
            raise _unknown(name, b)
        if FLOAT in (ka, kb):
            x, y = float(a), float(b)
        elif UINT in (ka, kb) and ka != kb:
            x, y = (_i64(int(a)), int(b)) if ka == UINT else (int(a), _i64(int(b)))
        else:
            x, y = int(a), int(b)
        winner, k = (a, ka) if pick_a(x, y) else (b, kb)
        return float(winner) if k == FLOAT else Uint64(winner) if k == UINT else int(winner)

    op.__name__ = name
    return op


minimum = _extreme("minimum", lambda x, y: x < y)
maximum = _extreme("maximum", lambda x, y: x > y)
