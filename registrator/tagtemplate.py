"""Pure: the `-tags` flag, a Go text/template over the container's inspect data (as gliderlabs renders it), then
the same comma list as SERVICE_TAGS.

The data is the inspect JSON with `ID` beside `Id`: gliderlabs executes the template over go-dockerclient's
Container struct, whose field is `ID` (`{{strSlice .ID 0 12}}` is a documented use). Functions: gliderlabs'
string helpers; `httpGet`/`jsonParse` are not offered (a fetch of any URL at every container start)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from portside.gotemplate import Template, TemplateError


def _str_slice(v: str, *i: int) -> str:
    if len(i) == 1 and len(v) >= i[0]:
        return v[i[0]:]
    if len(i) == 2 and len(v) >= i[0] and len(v) >= i[1]:
        return v[i[0]:] if i[1] < i[0] else v[i[0]:i[1]]
    return v


def _pick(i: int, items: list[str]) -> str:
    """gliderlabs' sIndex: a negative index counts from the end; out of range gives the nearest end."""
    if i < 0:
        return items[0] if -i >= len(items) else items[len(items) + i]
    return items[-1] if i >= len(items) else items[i]


FUNCS: dict[str, Any] = {
    "strSlice": _str_slice,
    "sIndex": _pick,
    "mIndex": lambda k, m: (m or {}).get(k, ""),
    "toUpper": lambda v: v.upper(),
    "toLower": lambda v: v.lower(),
    "replace": lambda n, old, new, v: v.replace(old, new, n if n >= 0 else -1),
    "join": lambda sep, s: sep.join(s or []),
    "split": lambda sep, v: v.split(sep),
    "splitIndex": lambda i, sep, v: _pick(i, v.split(sep)),
    "matchFirstElement": lambda r, s: next((e for e in s or [] if re.search(r, e)), ""),
    "matchAllElements": lambda r, s: [e for e in s or [] if re.search(r, e)],
}


@functools.lru_cache(maxsize=8)
def compile_tags(text: str) -> Template:
    """The parsed template (TemplateError when it does not parse: the CLI refuses to start)."""
    return Template("tags", funcs=FUNCS).parse(text)


def render_tags(text: str, container: Mapping[str, Any]) -> str:
    """`-tags` rendered for one container ("" when none given); TemplateError when execution fails."""
    if "{{" not in text:
        return text
    return compile_tags(text).execute({**container, "ID": container.get("Id", "")})


__all__ = ["TemplateError", "compile_tags", "render_tags"]
