"""Checkers shared by the YAML and HCL readers: (value, where) -> converted value, or a ConfigError naming
`where` (file, line, key). Kept apart from the model so both readers give the same messages for the same mistake.
"""

from __future__ import annotations

import shlex
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from portside.address import Address, AddressError
from portside.observe import LOG_LEVELS
from portside.watchrules import parse_duration


class ConfigError(ValueError):
    """The configuration cannot be used; the message names where and why. The CLI exits 2 on it."""


@dataclass(frozen=True)
class Wait:
    """Quiescence: render `min` after the last change, but never later than `max` after the first."""

    min: float = 0.0
    max: float = 0.0


Checker = Callable[[Any, str], Any]


def type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    return {list: "a list", tuple: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def want_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {type_name(value)} ({value!r})")
    return value


def want_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {type_name(value)} ({value!r})")
    return value


def want_str_list(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings (a single string counts as a list of one, as in consul-template's HCL)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list of strings, got {type_name(value)} ({value!r})")
    return tuple(want_str(v, f"{where}[{i}]") for i, v in enumerate(value))


def want_duration(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a duration like 250ms or 5s, got {type_name(value)} ({value!r})")
    if isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    else:
        seconds = float(value)
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative ({value!r})")
    return seconds


def want_go_duration(value: Any, where: str) -> str:
    text = want_str(value, where)
    want_duration(text, where)
    return text


def want_perms(value: Any, where: str) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            raise ConfigError(f"{where}: expected octal permissions like 0644, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ConfigError(f"{where}: expected octal permissions like 0644, got {value!r}")
    return value


def want_command(value: Any, where: str) -> str:
    """A shell command line; a list (consul-template's newer form) is joined with shell quoting."""
    if isinstance(value, list | tuple):
        text = shlex.join(want_str_list(value, where))
    else:
        text = want_str(value, where).strip()
    if not text:
        raise ConfigError(f"{where}: empty command")
    return text


def want_argv(value: Any, where: str) -> tuple[str, ...]:
    """A command run without a shell (exec mode): a list, or a string split as a shell would split words."""
    if isinstance(value, list | tuple):
        argv = want_str_list(value, where)
    else:
        try:
            argv = tuple(shlex.split(want_str(value, where)))
        except ValueError as exc:
            raise ConfigError(f"{where}: cannot split {value!r} into words: {exc}") from None
    if not argv or not argv[0]:
        raise ConfigError(f"{where}: empty command")
    return argv


def want_signal(value: Any, where: str) -> int | None:
    """`SIGHUP`, `HUP`, `hup` or a number; the empty string means none."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = want_str(value, where).strip().upper()
        if not text:
            return None
        if text.isdigit():
            number = int(text)
        else:
            name = text if text.startswith("SIG") else f"SIG{text}"
            try:
                number = int(signal.Signals[name])
            except KeyError:
                raise ConfigError(f"{where}: unknown signal {value!r}") from None
    if number not in {int(s) for s in signal.Signals} or number in (signal.SIGKILL, signal.SIGSTOP):
        raise ConfigError(f"{where}: {value!r} is not a signal that can be sent and caught")
    return number


def parse_wait(value: Any, where: str) -> Wait:
    """`{min, max}` or `"min[:max]"` or a bare duration; max defaults to 4 x min (consul-template's rule)."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        value = value[0]  # an HCL block
    if isinstance(value, Mapping):
        reject_unknown(value, {"min", "max", "enabled"}, "wait")
        lo = want_duration(value["min"], where_of(value, "min", "wait")) if "min" in value else 0.0
        hi = want_duration(value["max"], where_of(value, "max", "wait")) if "max" in value else 4 * lo
        if value.get("enabled") is False:
            lo = hi = 0.0
    elif isinstance(value, str) and ":" in value:
        a, b = value.split(":", 1)
        lo, hi = want_duration(a, where), want_duration(b, where)
    else:
        lo = want_duration(value, where)
        hi = 4 * lo
    if hi < lo:
        raise ConfigError(f"{where}: max ({hi:g}s) is smaller than min ({lo:g}s)")
    return Wait(lo, hi)


def line_of(mapping: Mapping[str, Any], key: str) -> int | None:
    return getattr(mapping, "key_lines", {}).get(key)


def where_of(mapping: Mapping[str, Any], key: str, prefix: str) -> str:
    line = line_of(mapping, key)
    name = f"{prefix}.{key}" if prefix else key
    return f"line {line}: key {name!r}" if line else f"key {name!r}"


def reject_unknown(mapping: Mapping[str, Any], known: set[str], prefix: str) -> None:
    for key in mapping:
        if key not in known:
            line = line_of(mapping, key)
            at = f"line {line}: " if line else ""
            name = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{at}unknown key {name!r} (known keys: {', '.join(sorted(known))})")


def fields(mapping: Mapping[str, Any], schema: Mapping[str, Checker], prefix: str) -> dict[str, Any]:
    reject_unknown(mapping, set(schema), prefix)
    return {key: schema[key](value, where_of(mapping, key, prefix)) for key, value in mapping.items()}


def want_log_format(value: Any, where: str) -> str:
    text = want_str(value, where)
    if text not in {"text", "json"}:
        raise ConfigError(f"{where}: expected text or json, got {text!r}")
    return text




def want_log_level(value: Any, where: str) -> str:
    """Our levels and consul-template's (trace, warn, err), as Python's logging names them."""
    text = want_str(value, where).strip().lower()
    if text not in LOG_LEVELS:
        raise ConfigError(f"{where}: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return LOG_LEVELS[text]


def want_http_addr(value: Any, where: str) -> Address | None:
    if value is None or isinstance(value, Address):
        return value
    try:
        return Address.parse(want_str(value, where), flag=where, allow_off=True)
    except AddressError as exc:
        raise ConfigError(f"{where}: expected host:port (e.g. 127.0.0.1:9310) or off, got {value!r}: "
                          f"{exc.reason}") from None
