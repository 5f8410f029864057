"""The Go-language renderer: the nginx guard and how Consul values keep their mark through the functions,
refused functions named at compile time, the function denylist, Go time layouts, RE2 constructs refused."""

from __future__ import annotations

import datetime as dt

import pytest

from consul_templates.ctfuncs.goregex import RegexError, compile_go
from consul_templates.ctfuncs.misc import go_time_format
from consul_templates.ctfuncs.queries import KeyQuery
from consul_templates.ctfuncs.source import dependency
from consul_templates.ctfuncs.types import Tainted
from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, RenderError, RenderInput

EVIL = "1.2.3.4:80; } server { listen 9999; }"


def _go(text: str, syntax: str = "nginx", **options: object) -> GoTemplate:
    return GoTemplate("t", text, CompileOptions(guard=GUARDS[syntax], **options))  # type: ignore[arg-type]


def _render(text: str, kv: dict[str, str], syntax: str = "nginx") -> str | None:
    store = {dependency(KeyQuery(k)): Tainted(v) for k, v in kv.items()}
    return _go(text, syntax).render(RenderInput(store, {})).text


@pytest.mark.parametrize("expr", [
    '{{ key "evil" }}', '{{ key "evil" | toUpper }}', '{{ printf "%s" (key "evil") }}', '{{ print (key "evil") }}',
    '{{ split "," (key "evil") | join " " }}', '{{ (key "evil") | replaceAll "x" "y" }}', '{{ key "evil" | toYAML }}',
    '{{ slice (key "evil") 0 12 }}', '{{ sprig_upper (key "evil") }}', '{{ key "evil" | html }}',
    '{{ with $x := key "evil" }}{{ $x }}{{ end }}', '{{ sprig_list (key "evil") }}',
])
def test_guard_refuses_a_consul_value_through_functions(expr: str) -> None:
    with pytest.raises(RenderError, match=r"refused value .* from kv.get\(evil\)|refused value .* from a template"):
        _render(expr, {"evil": EVIL})
    assert _render(expr, {"evil": EVIL}, syntax="none") is not None


def test_guard_lets_clean_values_and_template_text_through() -> None:
    assert _render('server {{ key "a" }} {{ "a;b{}" }};', {"a": "198.18.0.1:80"}) == "server 198.18.0.1:80 a;b{};"
    # clean Consul values joined with template text that has a space: the space is the template's own
    assert _render('{{ split "," (key "a") | join " " }}', {"a": "x,y"}) == "x y"
    assert _render('{{ key "a" | toJSON }}', {"a": "x"}) == '"x"'
    assert _render('{{ key "a" | sha256Hex | printf "%.4s" }}', {"a": EVIL}) == "beaf"
    # an encoder's output is escaped for its syntax: not checked again (guards.py), nor is toYAML in a YAML file
    assert _render('{{ key "a" | toJSON }}', {"a": 'x"; }'}) == '"x\\"; }"'
    assert _render('k: {{ key "a" | toYAML }}', {"a": "a: b"}, syntax="yaml") == "k: 'a: b'"


def test_guard_error_names_value_source_and_way_out() -> None:
    with pytest.raises(RenderError) as info:
        _render('upstream {\n  server {{ key "evil" }};\n}', {"evil": EVIL})
    msg = str(info.value)
    assert EVIL in msg and "kv.get(evil)" in msg and "line 2" in msg and "set the template's syntax" in msg


@pytest.mark.parametrize(("func", "why"), [("secret", "Vault"), ("plugin", "external program"),
                                           ("nomadService", "Nomad"), ("caLeaf", "Connect"),
                                           ("writeToFile", "writes files"), ("sockaddr", "sockaddr")])
def test_refused_functions_named_at_compile(func: str, why: str) -> None:
    with pytest.raises(RenderError, match=f"function '{func}' is not supported by consul-templates: .*{why}"):
        _go(f'{{{{ if false }}}}{{{{ {func} "x" }}}}{{{{ end }}}}')


def test_unimplemented_sprig_named_at_compile() -> None:
    with pytest.raises(RenderError, match="sprig function 'sprig_semver' is not implemented"):
        _go('{{ sprig_semver "1.0.0" }}')


def test_denylist_disables_functions_by_glob() -> None:
    template = GoTemplate("t", '{{ sprig_upper "a" }}', function_denylist=("sprig_*",))
    with pytest.raises(RenderError, match="function is disabled"):
        template.render(RenderInput({}, {}))
    allowed = GoTemplate("t", '{{ toUpper "a" }}', function_denylist=("sprig_*",))
    assert allowed.render(RenderInput({}, {})).text == "A"


def test_error_on_missing_key_and_delimiters() -> None:
    empty = RenderInput({}, {})
    assert _go("[[ .x ]]{{ 1 }}", left_delimiter="[[", right_delimiter="]]").render(empty).text == "<no value>{{ 1 }}"
    strict = _go('{{ (parseJSON "{}").x }}', error_on_missing_key=True)
    with pytest.raises(RenderError, match='map has no entry for key "x"'):
        strict.render(empty)
    assert _go('[{{ (parseJSON "{}").x }}]').render(empty).text == "[<no value>]"


def test_env_and_timestamp_use_what_the_render_is_given() -> None:
    now = dt.datetime(2024, 3, 5, 7, 8, 9, 120000, tzinfo=dt.UTC)
    template = GoTemplate("t", '{{ env "A" }}|{{ timestamp }}|{{ timestamp "unix" }}|{{ timestamp "Jan _2 15:04" }}',
                          now=lambda: now)
    assert template.render(RenderInput({}, {"A": "b"})).text == "b|2024-03-05T07:08:09Z|1709622489|Mar  5 07:08"


@pytest.mark.parametrize(("layout", "text"), [
    ("2006-01-02 15:04:05.000", "2024-03-05 07:08:09.120"),
    ("Mon Monday January 2 3PM pm", "Tue Tuesday March 5 7AM am"),
    ("06 1 _2 002 .999999 ,9", "24 3  5 065 .12 ,1"), ("Z07:00 -0700 MST", "Z +0000 UTC"), ("Monthly", "Monthly"),
])
def test_go_time_layouts(layout: str, text: str) -> None:
    assert go_time_format(dt.datetime(2024, 3, 5, 7, 8, 9, 120000, tzinfo=dt.UTC), layout) == text


@pytest.mark.parametrize(("pattern", "error"), [
    (r"\pL", "Unicode class"), ("(?U)a+", "ungreedy"), ("a(?=b)", "group syntax"), (r"(a)\1", "invalid escape"),
    (r"\Z", "invalid escape"), ("a(?i)b", "middle of a pattern"), ("a{2000}", "invalid repeat count"),
    ("a*+", "nested repetition"),
])
def test_regex_constructs_go_lacks_or_python_reads_differently_are_refused(pattern: str, error: str) -> None:
    with pytest.raises(RegexError, match=error):
        compile_go(pattern)


def test_regex_translations_keep_go_meaning() -> None:
    assert compile_go(r"^\w+$").search("été") is None  # \w is ASCII in Go
    assert compile_go("a$").search("a\n") is None  # $ is the end of the text without (?m)
    assert compile_go("(?m)a$").search("a\nb") is not None
    assert compile_go(r"\x{263a}").search("☺") and compile_go("[[:digit:]]+").fullmatch("123")
    assert compile_go(r"\Qa.b\E").fullmatch("a.b") and not compile_go(r"\Qa.b\E").fullmatch("axb")
