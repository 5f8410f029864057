"""consul-template's parse*/to* functions, base64 and hashes, with Go's strconv, encoding/json, yaml.v2 and
BurntSushi/toml behaviour (see gojson.py, goyaml.py, gotoml.py)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from typing import Any

from consul_templates.ctfuncs import gojson, gotoml, goyaml
from consul_templates.ctfuncs.types import Uint64

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))
_D = r"\d(?:_?\d)*"  # Go's underscoreOK: one underscore at a time, between digits
_DEC_FLOAT = re.compile(rf"[+-]?({_D}\.?(?:{_D})?|\.{_D})([eE][+-]?{_D})?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+")
_SPECIAL = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)


def _syntax(func: str, s: str) -> ValueError:
    return ValueError(f'strconv.{func}: parsing {gojson.quote(s, False)}: invalid syntax')


def _range(func: str, s: str) -> ValueError:
    return ValueError(f'strconv.{func}: parsing {gojson.quote(s, False)}: value out of range')


def parse_bool(s: str) -> bool:
    if s == "":
        return False
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"parseBool: {_syntax('ParseBool', s)}")


def go_parse_int(s: str, func: str = "ParseInt") -> int:
    """strconv.ParseInt(s, 10, 64)."""
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isascii() or not body.isdigit():
        raise _syntax(func, s)
    n = int(s)
    if not INT64_MIN <= n <= INT64_MAX:
        raise _range(func, s)
    return n


def parse_int(s: str) -> int:
    if s == "":
        return 0
    try:
        return go_parse_int(s)
    except ValueError as exc:
        raise ValueError(f"parseInt: {exc}") from None


def parse_uint(s: str) -> Uint64:
    if s == "":
        return Uint64(0)
    if not s.isascii() or not s.isdigit():
        raise ValueError(f"parseUint: {_syntax('ParseUint', s)}")
    n = int(s)
    if n > UINT64_MAX:
        raise ValueError(f"parseUint: {_range('ParseUint', s)}")
    return Uint64(n)


def go_parse_float(s: str) -> float:
    """strconv.ParseFloat(s, 64): Go's syntax (no spaces, no underscores without a base prefix)."""
    if _SPECIAL.fullmatch(s):
        body = s.lstrip("+-").lower()
        if body == "nan":
            return math.nan
        return -math.inf if s.startswith("-") else math.inf
    if _DEC_FLOAT.fullmatch(s):
        f = float(s.replace("_", ""))
    elif _HEX_FLOAT.fullmatch(s):
        f = float.fromhex(s)
    else:
        raise _syntax("ParseFloat", s)
    if math.isinf(f):
        raise _range("ParseFloat", s)
    return f


def parse_float(s: str) -> float:
    if s == "":
        return 0.0
    try:
        return go_parse_float(s)
    except ValueError as exc:
        raise ValueError(f"parseFloat: {exc}") from None


def parse_json(s: str) -> Any:
    if s == "":
        return {}
    return gojson.unmarshal(s)


def parse_yaml(s: str) -> Any:
    if s == "":
        return {}
    return goyaml.unmarshal(s)


def to_json(v: Any) -> str:
    return _wrap("toJSON", lambda: gojson.marshal(v).strip())


def to_json_pretty(v: Any) -> str:
    return _wrap("toJSONPretty", lambda: gojson.marshal(v, indent="  ").strip())


def to_unescaped_json(v: Any) -> str:
    return _wrap("toUnescapedJSON", lambda: gojson.marshal(v, escape_html=False).rstrip("\r\n"))


def to_unescaped_json_pretty(v: Any) -> str:
    return _wrap("toUnescapedJSONPretty", lambda: gojson.marshal(v, escape_html=False, indent="  ").rstrip("\r\n"))


def to_yaml(v: Any) -> str:
    return _wrap("toYAML", lambda: goyaml.marshal(v).strip())


def to_toml(v: Any) -> str:
    return _wrap("toTOML", lambda: gotoml.marshal(v).strip())


def _wrap(name: str, fn: Any) -> str:
    try:
        return str(fn())
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _b64decode(name: str, s: str, altchars: bytes | None) -> str:
    data = s.replace("\r", "").replace("\n", "").encode("utf-8", "surrogateescape")
    try:
        raw = base64.b64decode(data, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: illegal base64 data at input byte {_bad_byte(data, altchars)}") from None
    return raw.decode("utf-8", errors="replace")


def _bad_byte(data: bytes, altchars: bytes | None) -> int:
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + (altchars or b"+/")
    for i, c in enumerate(data):
        if c not in alphabet and c != ord("="):
            return i
    return max(0, len(data) - len(data) % 4 if len(data) % 4 else len(data) - 1)


def base64_decode(s: str) -> str:
    return _b64decode("base64Decode", s, None)


def base64_url_decode(s: str) -> str:
    return _b64decode("base64URLDecode", s, b"-_")


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def base64_encode(s: str) -> str:
    return base64.b64encode(_bytes(s)).decode("ascii")


def base64_url_encode(s: str) -> str:
    return base64.urlsafe_b64encode(_bytes(s)).decode("ascii")


def sha256_hex(s: str) -> str:
    return hashlib.sha256(_bytes(s)).hexdigest()


def md5sum(s: str) -> str:
    return hashlib.md5(_bytes(s)).hexdigest()  # noqa: S324 - consul-template's md5sum, a checksum


def hmac_sha256_hex(message: str, key: str) -> str:
    return hmac.new(_bytes(key), _bytes(message), hashlib.sha256).hexdigest()
