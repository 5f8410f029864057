"""env, timestamp (Go time layouts), scratch, and the functions consul-templates refuses by name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from consul_templates.ctfuncs.types import NilSlice
from portside.gotemplate import GoFunc

# Functions of consul-template this renderer does not offer: refused when a template is compiled, by name.
REFUSED: dict[str, str] = {
    **dict.fromkeys(("secret", "secrets", "pkiCert"), "reads Vault, which consul-templates does not talk to"),
    **dict.fromkeys(("caLeaf", "caRoots", "connect"), "reads Consul Connect (service mesh) data, not supported"),
    **dict.fromkeys(("nomadServices", "nomadService", "nomadVarList", "nomadVarListSafe", "nomadVar",
                     "nomadVarExists"), "reads Nomad, which consul-templates does not talk to"),
    **dict.fromkeys(("exportedServices", "partitions", "peerings"),
                    "reads Consul Enterprise partitions or cluster peering, not supported"),
    "plugin": "runs an external program from a template: refused (template data could choose what runs)",
    "writeToFile": "writes files other than the destination: refused (one template, one file)",
    "file": "reads local files, which consul-templates does not watch: put the content in Consul KV",
    "sockaddr": "go-sockaddr templates (host network introspection) are not implemented",
    **dict.fromkeys(("spew_dump", "spew_printf", "spew_sdump", "spew_sprintf"),
                    "dumps Go memory layouts, which have no equivalent here"),
}


def env_funcs(environ: Mapping[str, str]) -> dict[str, Callable[..., str]]:
    def env(name: str) -> str:
        return environ.get(name, "")

    def must_env(name: str) -> str:
        value = environ.get(name, "")
        if value == "":
            raise ValueError(f"required environment variable {name} is empty")
        return value

    def env_or_default(name: str, default: str) -> str:
        return environ.get(name, default)

    return {"env": env, "mustEnv": must_env, "envOrDefault": env_or_default}


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Go's layout elements, longest first where one is a prefix of another (time.nextStdChunk's order).
_STD: list[tuple[str, Callable[[dt.datetime], str]]] = [
    ("January", lambda t: _MONTHS[t.month - 1]), ("Jan", lambda t: _MONTHS[t.month - 1][:3]),
    ("Monday", lambda t: _DAYS[t.weekday()]), ("Mon", lambda t: _DAYS[t.weekday()][:3]), ("MST", lambda t: "UTC"),
    ("2006", lambda t: f"{t.year:04d}"), ("002", lambda t: f"{t.timetuple().tm_yday:03d}"),
    ("01", lambda t: f"{t.month:02d}"), ("02", lambda t: f"{t.day:02d}"), ("03", lambda t: f"{_h12(t):02d}"),
    ("04", lambda t: f"{t.minute:02d}"), ("05", lambda t: f"{t.second:02d}"), ("06", lambda t: f"{t.year % 100:02d}"),
    ("15", lambda t: f"{t.hour:02d}"), ("1", lambda t: str(t.month)), ("2", lambda t: str(t.day)),
    ("__2", lambda t: f"{t.timetuple().tm_yday:3d}"), ("_2006", lambda t: f"_{t.year:04d}"),
    ("_2", lambda t: f"{t.day:2d}"),
    ("3", lambda t: str(_h12(t))), ("4", lambda t: str(t.minute)), ("5", lambda t: str(t.second)),
    ("PM", lambda t: "PM" if t.hour >= 12 else "AM"), ("pm", lambda t: "pm" if t.hour >= 12 else "am"),
    ("Z07:00:00", lambda t: "Z"), ("Z070000", lambda t: "Z"), ("Z07:00", lambda t: "Z"), ("Z0700", lambda t: "Z"),
    ("Z07", lambda t: "Z"), ("-07:00:00", lambda t: "+00:00:00"), ("-070000", lambda t: "+000000"),
    ("-07:00", lambda t: "+00:00"), ("-0700", lambda t: "+0000"), ("-07", lambda t: "+00"),
]


def _h12(t: dt.datetime) -> int:
    return t.hour % 12 or 12


def _fraction(layout: str, i: int, t: dt.datetime) -> tuple[str, int] | None:
    """`.000` (exactly that many digits) or `.999` (trailing zeros cut) at layout[i]."""
    if layout[i] not in ".," or i + 1 >= len(layout) or layout[i + 1] not in "09":
        return None
    digit = layout[i + 1]
    j = i + 1
    while j < len(layout) and layout[j] == digit:
        j += 1
    if j < len(layout) and layout[j].isdigit():
        return None
    n = min(j - i - 1, 9)
    digits = f"{t.microsecond * 1000:09d}"[:n]
    if digit == "9":
        digits = digits.rstrip("0")
        return ((layout[i] + digits) if digits else ""), j
    return layout[i] + digits, j


def go_time_format(t: dt.datetime, layout: str) -> str:
    """time.Time.Format(layout) for a UTC time."""
    out: list[str] = []
    i = 0
    while i < len(layout):
        frac = _fraction(layout, i, t)
        if frac is not None:
            out.append(frac[0])
            i = frac[1]
            continue
        for token, render in _STD:
            if layout.startswith(token, i) and not _bad_word(layout, i, token):
                out.append(render(t))
                i += len(token)
                break
        else:
            out.append(layout[i])
            i += 1
    return "".join(out)


def _bad_word(layout: str, i: int, token: str) -> bool:
    """Go reads "Jan"/"Mon" only when no lower-case letter follows ("Monthly" is text)."""
    if token in ("Jan", "Mon"):
        nxt = layout[i + len(token):i + len(token) + 1]
        return nxt.islower()
    return False


RFC3339 = "2006-01-02T15:04:05Z07:00"


def timestamp_func(now: Callable[[], dt.datetime]) -> Callable[..., str]:
    def timestamp(*layout: str) -> str:
        if len(layout) > 1:
            raise ValueError(f"timestamp: wrong number of arguments, expected 0 or 1, but got {len(layout)}")
        t = now()
        if layout and layout[0] == "unix":
            return str(int(t.timestamp()))
        return go_time_format(t, layout[0] if layout else RFC3339)

    return timestamp


class Scratch:
    """consul-template's per-render scratch pad: `{{ scratch.Set "k" v }}`, `{{ scratch.Get "k" }}`, ..."""

    __go_type__ = "*template.Scratch"

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def _key(self, k: str) -> bool:
        return k in self.values

    def _get(self, k: str) -> Any:
        return self.values.get(k)

    def _set(self, k: str, v: Any) -> str:
        self.values[k] = v
        return ""

    def _set_x(self, k: str, v: Any) -> str:
        self.values.setdefault(k, v)
        return ""

    def _map_set(self, k: str, mk: str, v: Any, overwrite: bool = True) -> str:
        target = self.values.setdefault(k, {})
        if not isinstance(target, dict):
            raise ValueError(f'"{k}" is not a map')
        if overwrite or mk not in target:
            target[mk] = v
        return ""

    def _map_set_x(self, k: str, mk: str, v: Any) -> str:
        return self._map_set(k, mk, v, overwrite=False)

    def _map_values(self, k: str) -> list[Any]:
        target = self.values.get(k)
        if not isinstance(target, dict):
            return NilSlice(elem="interface {}")  # Go's nil []interface{}: prints []
        return [target[key] for key in sorted(target)]

    Key = GoFunc(_key, ("string",))
    Get = GoFunc(_get, ("string",))
    Set = GoFunc(_set, ("string", "interface {}"))
    SetX = GoFunc(_set_x, ("string", "interface {}"))
    MapSet = GoFunc(_map_set, ("string", "string", "interface {}"))
    MapSetX = GoFunc(_map_set_x, ("string", "string", "interface {}"))
    MapValues = GoFunc(_map_values, ("string",))
