"""Value guards: which interpolated values may reach a file, decided by the syntax of that file.

A value from Consul (an address, a tag, meta, a KV value) is data an attacker may have written. Pasted raw into
a file it must not change the file's structure: a `;` or `}` closes an nginx directive or block, a newline starts
a new HAProxy line or `.env` variable, a `"` ends a JSON string. What is dangerous depends on the destination,
so each template has a `syntax` and its guard refuses exactly what could change that syntax's structure:

| syntax    | refused in a raw value                                                               |
|-----------|--------------------------------------------------------------------------------------|
| `nginx`   | whitespace, control characters, `; { } ' " # \\ $` (nginx expands `$name` variables) |
| `haproxy` | whitespace, control characters, `# ' " \\ $ %` and `{ }` (anonymous ACLs)            |
| `json`    | control characters, `"` and `\\` (a value can never leave the JSON string it sits in) |
| `yaml`    | control characters and line breaks, `" ' \\ #`, `: `, a leading indicator character; `<<`, `=` and   |
|           | dates or times that do not exist (YAML 1.1 reads them as syntax or refuses the file)  |
| `env`     | control characters (a newline starts a new variable), `" ' \\ $ #` and a backquote    |
| `none`    | nothing (the template author vouches for every value)                                |

Values that went through an encoder (`|json`, `|nginx_quote`, consul-template's `toJSON`) are already safe and
are not checked again. Numbers and booleans are always safe; None is refused (a missing value).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

import yaml

# YAML 1.1 (pyyaml) also breaks lines on NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR and refuses a whole file
# holding a C1 control, a surrogate or U+FFFE/U+FFFF; nginx and HAProxy do not care, but a value carrying one is
# not plain data anywhere, so every guard refuses them with the C0 control characters.
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff"


@dataclass(frozen=True)
class Guard:
    """The refusal rule of one syntax: `reason(value)` is None when the text may be interpolated raw."""

    name: str
    pattern: re.Pattern[str] | None
    what: str
    leading: str = ""  # characters refused at the start of a value
    starts: tuple[str, ...] = ()  # prefixes refused
    phrases: tuple[str, ...] = ()  # substrings refused anywhere (besides `pattern`)
    trailing: str = ""  # characters refused at the end of a value
    plain: Callable[[str], str | None] | None = None  # a last say on the value (blanks at the edges aside)

    def reason(self, text: str) -> str | None:
        if self.pattern is not None and self.pattern.search(text):
            return f"contains a character that could change {self.name} syntax ({self.what})"
        core = text.strip(" ")  # a plain scalar's edges are its first and last non-blank characters
        if self.leading and core[:1] and core[0] in self.leading:
            return f"starts with {core[0]!r}, which has a meaning at the start of a {self.name} value"
        for prefix in self.starts:
            if core.startswith(prefix) or core == prefix.strip():
                return f"starts with {prefix!r}, which has a meaning at the start of a {self.name} value"
        if self.trailing and core[-1:] and core[-1] in self.trailing:
            return f"ends with {core[-1]!r}, which has a meaning at the end of a {self.name} value"
        for phrase in self.phrases:
            if phrase in text:
                return f"contains {phrase!r}, which changes {self.name} structure"
        return self.plain(core) if self.plain is not None else None


_RESOLVER = yaml.resolver.Resolver()
_YAML_SYNTAX = {"tag:yaml.org,2002:merge": "<< (the merge key)", "tag:yaml.org,2002:value": "= (the value key)"}


def _yaml_plain(core: str) -> str | None:
    """What YAML 1.1 (pyyaml) makes of the value as a plain scalar: a few forms are syntax, not strings, and a
    date or time that does not exist makes safe_load refuse the whole file."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, core, (True, False))
    if tag in _YAML_SYNTAX:
        return f"reads as YAML syntax, {_YAML_SYNTAX[tag]}, not as a value"
    if tag == "tag:yaml.org,2002:timestamp":
        try:
            yaml.safe_load(core)
        except (ValueError, yaml.YAMLError):
            return "reads as a YAML date or time that does not exist: no YAML reader would load the file"
    return None


GUARDS: dict[str, Guard] = {
    "nginx": Guard("nginx", re.compile(rf"[;{{}}'\"#\\$\s{_CONTROL}]"), "; { } ' \" # \\ $, whitespace, control"),
    "haproxy": Guard("haproxy", re.compile(rf"[#'\"\\$%{{}}\s{_CONTROL}]"),
                     "# ' \" \\ $ % { }, whitespace, control"),
    "json": Guard("json", re.compile(rf"[\"\\{_CONTROL}]"), "\" \\, control"),
    "yaml": Guard("yaml", re.compile(rf"[\"'\\#{_CONTROL}\t]"), "\" ' \\ #, tab, line break, control",
                  leading=",[]{}#&*!|>'\"%@`", starts=("- ", "? ", ": ", "= ", "---", "..."), phrases=(": ",),
                  trailing=":", plain=_yaml_plain),
    "env": Guard("env", re.compile(rf"[\"'\\$#`{_CONTROL}]"), "\" ' \\ $ # `, line break, control"),
    "none": Guard("none", None, ""),
}
SYNTAXES = tuple(GUARDS)


def default_syntax(destination: PurePath) -> str:
    """The syntax a destination is taken to have when its template names none.

    By file name: `.json` -> json, `.yaml`/`.yml` -> yaml, `.env` (or `*.env`, `.env.*`) -> env, `.cfg` in a
    path that mentions haproxy -> haproxy; everything else -> nginx, the strictest common rule and what every
    template got before syntaxes existed, so a file of unknown kind is never guarded less than it was."""
    name = destination.name.lower()
    suffix = destination.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if name == ".env" or suffix == ".env" or name.startswith(".env."):
        return "env"
    if suffix == ".cfg" and "haproxy" in str(destination).lower():
        return "haproxy"
    return "nginx"
