"""Random templates and data from a small grammar, through Go and through our engine.

200 examples, all answered by one Go process (the oracle's -lines mode); a difference shrinks to a smallest
template and data, reported with both answers.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from portside.gotemplate import go_bytes
from portside.gotemplate.gostr import quote
from tests.support.gotemplate_oracle import OracleProcess, case, out_bytes, run_python

KEYS = ["a", "b", "c", "l", "m", "n"]
# Surrogates cannot cross JSON to Go (Go's decoder makes them U+FFFD).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
PLAIN_TEXT = st.text(st.sampled_from(string.ascii_letters + " \n\t.-<>&'\"é日"), max_size=5)

TYPED = st.one_of(
    TEXT.map(lambda t: {"$struct": "Named", "Name": t}),
    st.lists(TEXT, max_size=3).map(lambda xs: {"$strings": xs}),
    st.lists(st.integers(-5, 5), max_size=3).map(lambda xs: {"$ints": xs}),
    st.dictionaries(st.sampled_from(KEYS), TEXT, max_size=3).map(lambda m: {"$smap": m}),
    st.builds(lambda n, p, t: {"$struct": "Service", "Name": n, "Port": p, "Tags": t}, TEXT, st.integers(0, 9),
              st.lists(TEXT, max_size=2)),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.integers(-(2 ** 63), 2 ** 63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT, TYPED)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS + ["10", "9", "é"]), inner, max_size=4)),
    max_leaves=10)
DATA = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)

INT_LITERAL = st.integers(-300, 300).map(str) | st.integers(0, 255).map(hex) | st.sampled_from(
    ["0", "-0", "1_000", "0o17", "0b101", "9223372036854775807", "'a'", "'\\n'"])
FLOAT_LITERAL = st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr) | st.sampled_from(
    ["1e21", "1e6", "100000.0", "0.5", "-2.25", "1e-7", "0x1p-2"])
STRING_LITERAL = TEXT.map(quote) | PLAIN_TEXT.filter(lambda s: "`" not in s).map(lambda s: f"`{s}`")
NAMES = st.sampled_from(KEYS + ["Name", "Port", "Tags", "URL", "Nope"])
FIELD = NAMES.map(lambda k: "." + k) | st.tuples(NAMES, NAMES).map(lambda kk: f".{kk[0]}.{kk[1]}")
OPERAND = st.one_of(FIELD, st.sampled_from([".", "$", "true", "false", "nil"]), INT_LITERAL, FLOAT_LITERAL,
                    STRING_LITERAL)
VERB = st.builds(lambda flags, width, prec, verb: "%" + flags + width + prec + verb,
                 st.sampled_from(["", "-", "+", "#", "0", " ", "+0", "-#"]), st.sampled_from(["", "5", "1"]),
                 st.sampled_from(["", ".2", ".0", "."]), st.sampled_from(list("vdsqxXfegGtcTUob")))
FORMAT = st.lists(st.one_of(VERB, PLAIN_TEXT.filter(lambda s: "%" not in s)), max_size=3).map(
    lambda parts: quote("".join(parts)))

ONE_ARG = ["len", "not", "html", "js", "urlquery", "print", "println", "upper", ".Greet"]
TWO_ARGS = ["index", "slice", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "print", "add", "join", "pair"]


def _command(arg: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        arg,
        st.tuples(st.sampled_from(ONE_ARG), arg).map(" ".join),
        st.tuples(st.sampled_from(TWO_ARGS), arg, arg).map(" ".join),
        st.tuples(st.sampled_from(["eq", "slice", "index", "printf " + '"%v %v"']), arg, arg, arg).map(" ".join),
        st.tuples(FORMAT, st.lists(arg, max_size=3)).map(lambda f: " ".join(["printf", f[0], *f[1]])),
    )


ARG = st.recursive(OPERAND, lambda inner: _command(inner).map(lambda c: f"({c})"), max_leaves=4)
PIPELINE = st.tuples(_command(ARG), st.lists(st.sampled_from(["print", "len", "html", "js", "printf \"[%v]\"",
                                                                "not", "urlquery", "index .l"]), max_size=2)).map(
    lambda p: " | ".join([p[0], *p[1]]))


def _piece(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        PLAIN_TEXT,
        PIPELINE.map(lambda p: "{{" + p + "}}"),
        PIPELINE.map(lambda p: "{{- " + p + " -}}"),
        st.tuples(PIPELINE, body, body).map(lambda t: "{{if " + t[0] + "}}" + t[1] + "{{else}}" + t[2] + "{{end}}"),
        st.tuples(PIPELINE, body).map(lambda t: "{{range $i, $e := " + t[0] + "}}{{$i}}={{$e}};" + t[1] + "{{end}}"),
        st.tuples(PIPELINE, body).map(lambda t: "{{with " + t[0] + "}}{{.}}" + t[1] + "{{else}}none{{end}}"),
        st.just("{{/* c */}}"),
    )


BODY = st.recursive(PLAIN_TEXT, lambda inner: st.lists(_piece(inner), max_size=3).map("".join), max_leaves=6)
TEMPLATE = st.lists(_piece(BODY), min_size=1, max_size=4).map("".join)
OPTIONS = st.sampled_from([(), ("missingkey=zero",), ("missingkey=error",)])
CASE = st.builds(lambda t, d, o: case("h", t, d, options=o), TEMPLATE, DATA, OPTIONS)


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(CASE)
def test_random_templates_same_as_go(go_oracle_process: OracleProcess, c: dict[str, Any]) -> None:
    go = go_oracle_process.ask(c)
    event(go["phase"] if go["phase"] != "exec" else "exec: " + go["err"].rsplit(": ", 1)[-1][:30])
    ours = run_python(c)
    assert (ours["phase"], ours["err"]) == (go["phase"], go["err"])
    assert go_bytes(ours["out"]) == out_bytes(go)
