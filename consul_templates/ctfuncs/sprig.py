"""The sprig functions consul-template offers as `sprig_<name>` (Masterminds/sprig v3.3.0, hermetic set):
the string, number, default, JSON and encoding ones, written here with sprig's semantics (errors swallowed
where sprig swallows them, spf13/cast conversions); lists, dicts, regexes and paths in sprig_more.py.

Not offered (see NOT_IMPLEMENTED): dates, random values, crypto, semver, URL parsing, word wrapping and the
case converters of xstrings; calling one is refused when the template is compiled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import zlib
from typing import Any

from consul_templates.ctfuncs import gojson, sprig_more
from consul_templates.ctfuncs import textfuncs as txt
from consul_templates.ctfuncs.types import Uint64
from portside.gotemplate import GoSlice, is_true, sprint, sprintf

S, N, V, VS = "string", "int", "interface {}", "...interface {}"


def strval(v: Any) -> str:
    """sprig's strval: a string as is, a Stringer's String(), else fmt's %v."""
    return v if isinstance(v, str) else sprint(v)


def _go_parse_int_base0(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64): 0x/0o/0b/0 prefixes, underscores only between digits (Go's underscoreOK)."""
    from consul_templates.ctfuncs.goyaml import _go_parse_int

    if "_" in s and not re.fullmatch(r"[+-]?(0[xXoObB]_?)?[0-9A-Fa-f]+(_[0-9A-Fa-f]+)*", s):
        return None
    n = _go_parse_int(s.replace("_", ""))
    return n if n is not None and -(2**63) <= n < 2**63 else None


def to_int64(v: Any) -> int:
    """spf13/cast.ToInt64: ints as is, floats truncated, "12" / "0x1f" / "5.00" parsed, anything else 0."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v) - (2**64 if isinstance(v, Uint64) and v >= 2**63 else 0)
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else 0
    if isinstance(v, str):
        s = v
        if "." in s:
            head, _, tail = s.partition(".")
            if tail.strip("0") == "":
                s = head
        n = _go_parse_int_base0(s) if s else None
        return n if n is not None else 0
    return 0


def to_float64(v: Any) -> float:
    """spf13/cast.ToFloat64."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        from consul_templates.ctfuncs.encoding import go_parse_float

        try:
            return go_parse_float(v)
        except ValueError:
            return 0.0
    return 0.0


def empty(v: Any) -> bool:
    """sprig's empty: nil, "", 0, false, an empty list or map; a struct is never empty."""
    if v is None or type(v).__name__ == "_Missing":
        return True
    if isinstance(v, bool | int | float | str | list | tuple | dict):
        return not is_true(v)
    return False


def _default(d: Any, *given: Any) -> Any:
    return d if not given or empty(given[0]) else given[0]


def _coalesce(*v: Any) -> Any:
    return next((x for x in v if not empty(x)), None)


def _indent(spaces: int, s: str) -> str:
    pad = " " * spaces
    return pad + s.replace("\n", "\n" + pad)


def _quote(*v: Any) -> str:
    from portside.gotemplate.gostr import quote

    return " ".join(quote(strval(x)) for x in v if x is not None)


def _squote(*v: Any) -> str:
    return " ".join(sprintf("'%v'", x) for x in v if x is not None)


def _cat(*v: Any) -> str:
    items = [x for x in v if x is not None]
    return sprintf(" ".join(["%v"] * len(items)), *items) if items else ""


def _trunc(c: int, s: str) -> str:
    if c < 0 and len(s) + c > 0:
        return s[len(s) + c:]
    return s[:c] if 0 <= c < len(s) else s


def _substr(start: int, end: int, s: str) -> str:
    if start < 0:
        return s[:end]
    if end < 0 or end > len(s):
        return s[start:]
    return s[start:end]


def _title(s: str) -> str:
    """strings.Title: the letter after a separator (anything but a letter, digit, `_` or mark) upper-cased."""
    out, prev_sep = [], True
    for ch in s:
        out.append(txt._title_rune(ch) if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_")
    return "".join(out)


def _swapcase(s: str) -> str:
    return "".join(c.lower() if c.isupper() else c.upper() if c.islower() else c for c in s)


def _initials(s: str) -> str:
    return "".join(w[0] for w in s.split())


def _abbrev(width: int, s: str) -> str:
    if width < 4 or len(s) <= width:
        return s
    return s[:width - 3] + "..."


def _b64dec(s: str) -> str:
    try:
        return base64.b64decode(s.encode(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "illegal base64 data at input byte 0"


def _b32dec(s: str) -> str:
    try:
        return base64.b32decode(s.encode()).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "illegal base32 data at input byte 0"


def _from_json(s: str) -> Any:
    try:
        return gojson.unmarshal(s)
    except ValueError:
        return None


def _until_step(start: int, stop: int, step: int) -> GoSlice:
    if stop < start:
        return GoSlice(range(start, stop, step) if step < 0 else (), elem="int")
    return GoSlice(range(start, stop, step) if step > 0 else (), elem="int")


def _round(a: Any, p: int, *r: float) -> float:
    round_on = r[0] if r else 0.5
    pow10 = math.pow(10, p)
    digit = pow10 * to_float64(a)
    frac = math.modf(digit)[0]
    return (math.ceil(digit) if frac >= round_on else math.floor(digit)) / pow10


def _idiv(a: Any, b: Any) -> int:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise ZeroDivisionError("runtime error: integer divide by zero")
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def _imod(a: Any, b: Any) -> int:
    return to_int64(a) - _idiv(a, b) * to_int64(b)


def _to_decimal(v: Any) -> int:
    try:
        return int(strval(v), 8)
    except ValueError:
        return 0


FUNCS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "hello": (lambda: "Hello!", ()),
    "upper": (txt.to_upper, (S,)), "lower": (txt.to_lower, (S,)), "title": (_title, (S,)),
    "untitle": (lambda s: s[:1].lower() + s[1:], (S,)), "trim": (txt.trim_space, (S,)),
    "trimAll": (lambda a, b: txt.trim(a, b), (S, S)), "trimall": (lambda a, b: txt.trim(a, b), (S, S)),
    "trimSuffix": (lambda a, b: txt.trim_suffix(a, b), (S, S)),
    "trimPrefix": (lambda a, b: txt.trim_prefix(a, b), (S, S)),
    "repeat": (lambda n, s: s * max(n, 0), (N, S)), "substr": (_substr, (N, N, S)),
    "nospace": (lambda s: "".join(c for c in s if c not in txt.GO_SPACE), (S,)), "trunc": (_trunc, (N, S)),
    "abbrev": (_abbrev, (N, S)), "initials": (_initials, (S,)), "swapcase": (_swapcase, (S,)),
    "contains": (lambda sub, s: sub in s, (S, S)), "hasPrefix": (lambda p, s: s.startswith(p), (S, S)),
    "hasSuffix": (lambda p, s: s.endswith(p), (S, S)), "quote": (_quote, (VS,)), "squote": (_squote, (VS,)),
    "cat": (_cat, (VS,)), "indent": (_indent, (N, S)), "nindent": (lambda n, s: "\n" + _indent(n, s), (N, S)),
    "replace": (lambda old, new, s: s.replace(old, new), (S, S, S)),
    "plural": (lambda one, many, n: one if n == 1 else many, (S, S, N)),
    "sha1sum": (lambda s: hashlib.sha1(s.encode("utf-8", "surrogateescape")).hexdigest(), (S,)),  # noqa: S324
    "sha256sum": (lambda s: hashlib.sha256(s.encode("utf-8", "surrogateescape")).hexdigest(), (S,)),
    "sha512sum": (lambda s: hashlib.sha512(s.encode("utf-8", "surrogateescape")).hexdigest(), (S,)),
    "adler32sum": (lambda s: str(zlib.adler32(s.encode("utf-8", "surrogateescape"))), (S,)),
    "toString": (strval, (V,)), "atoi": (lambda s: to_int64(s) if s.lstrip("+-").isdigit() else 0, (S,)),
    "int64": (to_int64, (V,)), "int": (to_int64, (V,)), "float64": (to_float64, (V,)),
    "toDecimal": (_to_decimal, (V,)),
    "until": (lambda n: _until_step(0, n, 1 if n >= 0 else -1), (N,)), "untilStep": (_until_step, (N, N, N)),
    "add1": (lambda i: to_int64(i) + 1, (V,)), "add": (lambda *v: sum(to_int64(x) for x in v), (VS,)),
    "sub": (lambda a, b: to_int64(a) - to_int64(b), (V, V)), "div": (_idiv, (V, V)), "mod": (_imod, (V, V)),
    "mul": (lambda a, *v: math.prod([to_int64(a), *(to_int64(x) for x in v)]), (V, VS)),
    "max": (lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), (V, VS)),
    "biggest": (lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), (V, VS)),
    "min": (lambda a, *v: min([to_int64(a), *(to_int64(x) for x in v)]), (V, VS)),
    "maxf": (lambda a, *v: max([to_float64(a), *(to_float64(x) for x in v)]), (V, VS)),
    "minf": (lambda a, *v: min([to_float64(a), *(to_float64(x) for x in v)]), (V, VS)),
    "floor": (lambda a: float(math.floor(to_float64(a))), (V,)),
    "ceil": (lambda a: float(math.ceil(to_float64(a))), (V,)), "round": (_round, (V, N, "...float64")),
    "default": (_default, (V, VS)), "empty": (empty, (V,)), "coalesce": (_coalesce, (VS,)),
    "all": (lambda *v: all(not empty(x) for x in v), (VS,)), "any": (lambda *v: any(not empty(x) for x in v), (VS,)),
    "ternary": (lambda t, f, c: t if c else f, (V, V, "bool")),
    "fromJson": (_from_json, (S,)), "mustFromJson": (gojson.unmarshal, (S,)),
    "toJson": (lambda v: gojson.marshal(v), (V,)), "mustToJson": (lambda v: gojson.marshal(v), (V,)),
    "toPrettyJson": (lambda v: gojson.marshal(v, indent="  "), (V,)),
    "mustToPrettyJson": (lambda v: gojson.marshal(v, indent="  "), (V,)),
    "toRawJson": (lambda v: gojson.marshal(v, escape_html=False), (V,)),
    "mustToRawJson": (lambda v: gojson.marshal(v, escape_html=False), (V,)),
    "b64enc": (lambda s: base64.b64encode(s.encode("utf-8", "surrogateescape")).decode(), (S,)),
    "b64dec": (_b64dec, (S,)),
    "b32enc": (lambda s: base64.b32encode(s.encode("utf-8", "surrogateescape")).decode(), (S,)),
    "b32dec": (_b32dec, (S,)),
    **sprig_more.FUNCS,
}

NOT_IMPLEMENTED = (
    "ago", "date", "dateInZone", "date_in_zone", "dateModify", "date_modify", "mustDateModify", "must_date_modify",
    "duration", "durationRound", "htmlDate", "htmlDateInZone", "toDate", "mustToDate", "unixEpoch", "now",
    "randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randInt", "randBytes", "shuffle", "uuidv4",
    "abbrevboth", "wrap", "wrapWith", "snakecase", "camelcase", "kebabcase", "seq", "splitn",
    "addf", "add1f", "subf", "divf", "mulf", "deepCopy", "mustDeepCopy",
    "bcrypt", "htpasswd", "genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey",
    "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "encryptAES",
    "decryptAES", "semver", "semverCompare", "urlParse", "urlJoin", "getHostByName", "env", "expandenv",
    "merge", "mergeOverwrite", "mustMerge", "mustMergeOverwrite",
)
