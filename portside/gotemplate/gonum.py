"""Go's number syntax and float printing (strconv.ParseInt/ParseUint/ParseFloat, strconv.FormatFloat).

Parsing follows Go's literal rules (0x/0o/0b prefixes, a leading 0 for octal, underscores between digits, hex
floats with a mandatory p exponent). Printing gets its digits from Python, which rounds exactly as Go does
(shortest round-trip digits, or correctly rounded fixed precision, ties to even), and lays them out with Go's
rules (`%v` of 1e6 is "1e+06", of 100000.0 is "100000").
"""

from __future__ import annotations

import math
import struct

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


def _underscore_ok(s: str) -> bool:
    saw = "^"
    i = 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for c in s[i:]:
        if c.isdigit() and c.isascii() or hexa and c.lower() in "abcdef":
            saw = "0"
            continue
        if c == "_":
            if saw != "0":
                return False
            saw = "_"
            continue
        if saw == "_":
            return False
        saw = "!"
    return saw != "_"


def parse_uint(s0: str) -> int | None:
    """strconv.ParseUint(s, 0, 64); None where Go returns an error (syntax or range)."""
    s = s0
    if not s:
        return None
    base = 10
    if s[0] == "0":
        if len(s) >= 3 and s[1].lower() in "box":
            base = {"b": 2, "o": 8, "x": 16}[s[1].lower()]
            s = s[2:]
        else:
            base, s = 8, s[1:]
    underscores = False
    n = 0
    for c in s:
        if c == "_":
            underscores = True
            continue
        d = int(c, 16) if c in "0123456789abcdefABCDEF" else 99
        if d >= base:
            return None
        n = n * base + d
        if n > UINT64_MAX:
            return None
    if underscores and not _underscore_ok(s0):
        return None
    return n


def parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64)."""
    if not s:
        return None
    neg = s[0] == "-"
    body = s[1:] if s[0] in "+-" else s
    if body[:1] in ("+", "-"):
        return None
    u = parse_uint(body)
    if u is None:
        return None
    if neg:
        return -u if u <= 1 << 63 else None
    return u if u <= INT64_MAX else None


def _float_syntax_ok(s: str) -> bool:
    """Go's readFloat accepting the whole of s (special values aside, which a template cannot spell)."""
    i = 1 if s[:1] in ("+", "-") else 0
    hexa = len(s) > i + 2 and s[i] == "0" and s[i + 1].lower() == "x"
    if hexa:
        i += 2
    digits = "0123456789abcdefABCDEF" if hexa else "0123456789"
    sawdot = sawdigits = False
    while i < len(s):
        c = s[i]
        if c == "_":
            pass
        elif c == ".":
            if sawdot:
                break
            sawdot = True
        elif c in digits:
            sawdigits = True
        else:
            break
        i += 1
    if not sawdigits:
        return False
    if i < len(s) and s[i].lower() == ("p" if hexa else "e"):
        i += 1
        if i < len(s) and s[i] in "+-":
            i += 1
        if i >= len(s) or not "0" <= s[i] <= "9":
            return False
        while i < len(s) and (s[i] in "0123456789_"):
            i += 1
    elif hexa:
        return False
    if "_" in s[:i] and not _underscore_ok(s[:i]):
        return False
    return i == len(s)


def parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64); None for a syntax error or a value out of float64's range."""
    if not _float_syntax_ok(s):
        return None
    clean = s.replace("_", "")
    try:
        f = float.fromhex(clean) if "x" in clean.lower() else float(clean)
    except (ValueError, OverflowError):
        return None
    return None if math.isinf(f) else f


# ---- printing ----------------------------------------------------------------------------------------------


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of x > 0 and the decimal point position (x = 0.DIGITS * 10**dp)."""
    r = repr(x)
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    allds = ip + fp
    stripped = allds.lstrip("0")
    dp = len(ip) - (len(allds) - len(stripped)) + (int(exp) if exp else 0)
    return stripped.rstrip("0"), dp


def _fixed_digits(x: float, n: int) -> tuple[str, int]:
    """x >= 0 correctly rounded to n significant digits, trailing zeros dropped."""
    if x == 0:
        return "", 0
    m, _, e = f"{x:.{n - 1}e}".partition("e")
    ds = m.replace(".", "").rstrip("0")
    return ds, int(e) + 1


def _fmt_e(neg: bool, ds: str, dp: int, prec: int, ch: str) -> str:
    out = ["-" if neg else "", ds[0] if ds else "0"]
    if prec > 0:
        frac = ds[1:prec + 1]
        out.append("." + frac + "0" * (prec - len(frac)))
    exp = 0 if not ds else dp - 1
    sign = "-" if exp < 0 else "+"
    out.append(f"{ch}{sign}{abs(exp):02d}")
    return "".join(out)


def _fmt_f(neg: bool, ds: str, dp: int, prec: int) -> str:
    out = ["-" if neg else ""]
    if dp > 0:
        whole = ds[:dp]
        out.append(whole + "0" * (dp - len(whole)))
    else:
        out.append("0")
    if prec > 0:
        frac = "".join(ds[dp + i] if 0 <= dp + i < len(ds) else "0" for i in range(prec))
        out.append("." + frac)
    return "".join(out)


def _format_g(neg: bool, ds: str, dp: int, prec: int, shortest: bool, ch: str) -> str:
    nd = len(ds)
    eprec = prec
    if eprec > nd and nd >= dp:
        eprec = nd
    if shortest:
        eprec = 6
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        return _fmt_e(neg, ds, dp, min(prec, nd) - 1, "e" if ch == "g" else "E")
    if prec > dp:
        prec = nd
    return _fmt_f(neg, ds, dp, max(prec - dp, 0))


def _bits(x: float) -> tuple[bool, int, int]:
    """(negative, mantissa with its implicit bit, unbiased binary exponent) as Go's genericFtoa takes them."""
    bits = struct.unpack(">Q", struct.pack(">d", x))[0]
    neg = bool(bits >> 63)
    exp = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1
    else:
        mant |= 1 << 52
    return neg, mant, exp - 1023


def _fmt_x(x: float, prec: int, ch: str) -> str:
    neg, mant, exp = _bits(x)
    mask64 = (1 << 64) - 1
    if mant == 0:
        exp = 0
    mant <<= 60 - 52
    while mant != 0 and mant & (1 << 60) == 0:
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = "0123456789abcdef" if ch == "x" else "0123456789ABCDEF"
    out = ["-" if neg else "", "0", ch, str((mant >> 60) & 1)]
    mant = (mant << 4) & mask64
    if prec < 0 and mant != 0:
        out.append(".")
        while mant != 0:
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & mask64
    elif prec > 0:
        out.append(".")
        for _ in range(prec):
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & mask64
    out.append("p" if ch == "x" else "P")
    out.append(f"{'-' if exp < 0 else '+'}{abs(exp):02d}")
    return "".join(out)


def format_float(x: float, fmt: str, prec: int) -> str:
    """strconv.FormatFloat(x, fmt, prec, 64) for fmt in b e E f g G x X; prec < 0 means shortest."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if fmt == "b":
        neg, mant, exp = _bits(x)
        return f"{'-' if neg else ''}{mant}p{exp - 52:+d}"
    if fmt in "xX":
        return _fmt_x(x, prec, fmt)
    neg = math.copysign(1.0, x) < 0
    a = abs(x)
    shortest = prec < 0
    if shortest:
        ds, dp = _shortest_digits(a) if a else ("", 0)
        prec = {"e": len(ds) - 1, "E": len(ds) - 1, "f": max(len(ds) - dp, 0)}.get(fmt, len(ds))
        prec = max(prec, 0)
    elif fmt == "f":
        return ("-" if neg else "") + f"{a:.{prec}f}"
    elif fmt in "eE":
        ds, dp = _fixed_digits(a, prec + 1)
    else:
        prec = prec or 1
        ds, dp = _fixed_digits(a, prec)
    if fmt in "eE":
        return _fmt_e(neg, ds, dp, prec, fmt)
    if fmt == "f":
        return _fmt_f(neg, ds, dp, prec)
    return _format_g(neg, ds, dp, prec, shortest, fmt)
