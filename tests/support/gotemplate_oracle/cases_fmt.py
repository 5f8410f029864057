"""Corpus: Go's fmt through printf (verbs x flags x values, width/precision, argument indexes, error forms)."""

from __future__ import annotations

from typing import Any

from tests.support.gotemplate_oracle import case as C


def _verbs_case(name: str, verbs: list[str], value: Any) -> dict[str, Any]:
    """One case printing one value with many verbs: each verb is its own printf, separated by '|'."""
    tmpl = "|".join("{{printf " + _go_string(v) + " .v}}" for v in verbs)
    return C(name, tmpl, {"v": value})


def _go_string(s: str) -> str:
    return "`" + s + "`"


INT_VERBS = ["%v", "%d", "%+d", "% d", "%5d", "%-5d|", "%05d", "%-05d", "%+05d", "%.3d", "%8.3d", "%.0d", "%x", "%X",
             "%#x", "%#X", "%o", "%#o", "%O", "%b", "%#b", "%c", "%q", "%+q", "%U", "%#U", "%#v", "%+v", "%s", "%t",
             "%f", "%e", "%T", "%10.4x", "% x", "%#08x", "%p", "%z"]
INT_VALUES = {"zero": 0, "small": 42, "neg": -42, "byte": 255, "big": 1 << 40, "rune": 0x1F600, "max": (1 << 63) - 1,
              "min": -(1 << 63), "ctrl": 7, "surrogate": 0xD800, "beyond-unicode": 0x110000}

FLOAT_VERBS = ["%v", "%f", "%.2f", "%.0f", "%#.0f", "%e", "%.3e", "%E", "%g", "%.3g", "%.10g", "%G", "%8.2f", "%-8.2f|",
               "%08.2f", "%+.1f", "% .1f", "%+08.2f", "%x", "%X", "%.2x", "%b", "%#g", "%#.3g", "%#v", "%F", "%5.1e",
               "%d", "%s", "%q", "%T", "%10v", "%-10v|", "%.1v", "%#e"]
FLOAT_VALUES = {"zero": 0.0, "one": 1.0, "neg": -1.5, "pi": 3.14159265358979, "e21": 1e21, "e20": 1e20,
                "e5": 100000.0, "e6": 1e6, "small": 1e-5, "tenk": 0.0001, "big": 123456789.0, "tiny": 2.5e-10,
                "max": 1.7976931348623157e308, "denorm": 5e-324, "third": 1 / 3, "half": 0.5, "two-five": 2.5,
                "round": 0.125, "long": 1234567.891}

STRING_VERBS = ["%v", "%s", "%q", "%#q", "%+q", "%x", "% x", "%X", "%#x", "% #x", "%10s", "%-10s|", "%.2s", "%5.1s",
                "%#v", "%T", "%010s", "%d", "%c", "%.1q", "%08q", "%.3x", "%U"]
STRING_VALUES = {"empty": "", "plain": "hi", "accent": "héllo", "tab": "tab\there", "quote": "say \"hi\"",
                 "backtick": "back`tick", "controls": "\x00\x01\x7f", "cjk": "日本語", "linesep": "a\u2028b",
                 "emoji": "🎉x", "bom": "\ufeffbom", "backslash": "a\\b", "newline": "two\nlines", "nbsp": "a\u00a0b",
                 "softhyphen": "a\u00adb"}

OTHER_VERBS = ["%v", "%+v", "%#v", "%d", "%s", "%q", "%x", "%t", "%T", "%5v", "%-5v|", "%05d"]
OTHER_VALUES: dict[str, Any] = {
    "true": True, "false": False, "nil": None, "list": [1, "a", 2.5, None, True], "empty-list": [],
    "nested-list": [[1, 2], ["x"]], "map": {"b": 2, "a": [1, "x"], "c": None}, "empty-map": {},
    "strings": {"$strings": ["x", "y z"]}, "ints": {"$ints": [1, -2, 300]}, "smap": {"$smap": {"b": "2", "a": "1"}},
    "imap": {"$imap": {"2": "two", "-1": "neg"}},
    "struct": {"$struct": "Service", "ID": "i", "Name": "web", "Address": "198.18.0.7", "Port": 80,
               "Tags": ["t1", "t2"], "Meta": {"k": "v"}, "Weight": 0.5, "Node": {"Name": "n", "Meta": {"r": "1"}},
               "Extra": "e"},
    "struct-ptr": {"$struct": "*Service", "Name": "db", "Port": 5432, "Tags": ["x"], "Meta": {"a": "b"},
                   "Node": {"Name": "n", "Meta": {"r": "1"}}, "Extra": 1},
    "named": {"$struct": "Named", "Name": "x"},
    "named-list": [{"$struct": "Named", "Name": "a"}, {"$struct": "Named", "Name": "b"}],
    "pair": {"$struct": "Pair", "Key": "k", "Value": {"in": [1]}},
    "pair-nil": {"$struct": "Pair", "Key": "k"},
    "bytes": {"$bytes": "hi\n"},
}

VERB_CASES = (
    [_verbs_case(f"fmt-int-{n}", INT_VERBS, v) for n, v in INT_VALUES.items()]
    + [_verbs_case(f"fmt-float-{n}", FLOAT_VERBS, v) for n, v in FLOAT_VALUES.items()]
    + [_verbs_case(f"fmt-float-neg-{n}", FLOAT_VERBS[:12], -v) for n, v in FLOAT_VALUES.items() if v]
    + [_verbs_case(f"fmt-string-{n}", STRING_VERBS, v) for n, v in STRING_VALUES.items()]
    + [_verbs_case(f"fmt-{n}", OTHER_VERBS, v) for n, v in OTHER_VALUES.items()]
)

PRINTF_FORMS = [
    C("fmt-percent", "{{printf `100%% %5%|%-5%|%d%%` 3}}"),
    C("fmt-missing", "{{printf `%d %s`}}|{{printf `%d %d` 1}}"),
    C("fmt-extra", "{{printf `x` 1 \"a\" nil 2.5 .l}}", {"l": [1]}),
    C("fmt-noverb", "{{printf `abc%`}}|{{printf `%-`}}|{{printf `%5.`}}"),
    C("fmt-bad-verb", "{{printf `%z %!` 1 2}}"),
    C("fmt-arg-index", "{{printf `%[2]d %[1]d` 1 2}}|{{printf `%[1]d %[1]d` 5}}|{{printf `%d %[1]d %d` 1 2}}"),
    C("fmt-arg-index-continue", "{{printf `%[2]d %d` 1 2 3}}"),
    C("fmt-bad-index", "{{printf `%[0]d` 1}}|{{printf `%[3]d` 1 2}}|{{printf `%[x]d` 1}}|{{printf `%[1` 1}}"),
    C("fmt-index-then-width", "{{printf `%[1]5d|` 7}}|{{printf `%[2]*[1]d|` 7 4}}|{{printf `%[1].2f` 1.234}}"),
    C("fmt-star-width", "{{printf `%*d|%-*d|%*d|` 5 1 5 2 -4 3}}"),
    C("fmt-star-precision", "{{printf `%.*f|%*.*f|%.*d|` 2 3.14159 8 3 2.5 -1 42}}"),
    C("fmt-bad-width", "{{printf `%*d` \"x\" 1}}|{{printf `%*d` 1.5 1}}|{{printf `%*d` 10000000 1}}"),
    C("fmt-bad-precision", "{{printf `%.*d` \"x\" 1}}|{{printf `%.*d` nil 1}}"),
    C("fmt-star-missing", "{{printf `%*d`}}|{{printf `%.*d` 3}}"),
    C("fmt-width-huge", "{{printf `%10000000d` 1}}"),
    C("fmt-flags-order", "{{printf `%-+ #0d|%0-5d|%+-5d|` 1 2 3}}"),
    C("fmt-unicode-format", "{{printf `é%dü%s` 1 \"日\"}}"),
    C("fmt-wrap-verb", "{{printf `%w` 1}}"),
    C("fmt-verb-capital", "{{printf `%V %D` 1 2}}"),
    C("fmt-sharp-plus-v", "{{printf `%#+v|%+#v` .p .p}}", {"p": {"$struct": "Pair", "Key": "k", "Value": 1}}),
    C("fmt-pad-unicode", "{{printf `[%5s][%-5s][%5q]` \"日本\" \"é\" \"é\"}}"),
    C("fmt-stringer-panics", "{{printf `%v %d` .n .n}}", {"n": {"$struct": "Named", "Name": "p"}}),
]

CASES = VERB_CASES + PRINTF_FORMS
