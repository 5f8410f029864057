"""The Python API of portside.gotemplate: the template set, functions, the execution hook, the value model,
and the promises Go cannot check for us (recursion is an error, never a crash; executions share nothing)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from portside.gotemplate import (
    ExecContext,
    ExecDepthError,
    ExecError,
    GoFunc,
    GoMap,
    GoSlice,
    ParseError,
    Template,
    TemplateError,
    go_bytes,
    go_func,
    html_escape,
    is_true,
    js_escape,
    sprint,
    sprintf,
    sprintln,
    url_query_escape,
)


def render(text: str, data: object = None, **kw: object) -> str:
    return Template("t", **kw).parse(text).execute(data)  # type: ignore[arg-type]


# ---- the set ----------------------------------------------------------------------------------------------
def test_chain_and_lookup() -> None:
    t = Template("main").delims("[[", "]]").funcs({"up": str.upper}).option("missingkey=zero")
    t.parse('[[define "row"]]<[[up .]]>[[end]]rows: [[range .]][[template "row" .]][[end]]')
    assert t.execute(["a", "b"]) == "rows: <A><B>"
    assert t.execute_template("row", "x") == "<X>"
    assert {x.name for x in t.templates()} == {"main", "row"}
    assert t.lookup("row") is not None and t.lookup("nope") is None
    assert t.defined_templates() == '; defined templates are: "main", "row"'


def test_new_shares_the_set_and_delims() -> None:
    t = Template("a", delims=("<<", ">>")).parse('<<define "x">>X<<end>>')
    b = t.new("b").parse('b<<template "x">>')
    assert b.execute() == "bX" and t.execute_template("b") == "bX"


def test_clone_is_independent() -> None:
    t = Template("a").parse('{{define "x"}}1{{end}}{{template "x"}}')
    c = t.clone()
    c.parse('{{define "x"}}2{{end}}')
    assert t.execute() == "1" and c.execute() == "2"


def test_parse_files(tmp_path: Path) -> None:
    (tmp_path / "main.tmpl").write_text('M{{template "part.tmpl" .}}')
    (tmp_path / "part.tmpl").write_text("P{{.}}")
    t = Template("main.tmpl").parse_files(tmp_path / "main.tmpl", tmp_path / "part.tmpl")
    assert t.execute(1) == "MP1"
    with pytest.raises(TemplateError, match="no files named"):
        Template("x").parse_files()


def test_unparsed_and_unknown_templates() -> None:
    with pytest.raises(ExecError, match='template: x: "x" is an incomplete or empty template'):
        Template("x").execute()
    with pytest.raises(TemplateError, match='template: no template "nope" associated with template "t"'):
        Template("t").parse("").execute_template("nope")


@pytest.mark.parametrize("bad", ["", "missingkey", "missingkey=maybe", "other=1"])
def test_bad_options_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Template("t").option(bad)


def test_bad_function_names_and_values_are_refused() -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        Template("t").funcs({"a-b": str})
    with pytest.raises(TypeError, match="not a function"):
        Template("t").funcs({"x": 3})


def test_functions_must_exist_when_parsing() -> None:
    with pytest.raises(ParseError, match='template: t:1: function "later" not defined'):
        Template("t").parse("{{later}}")
    t = Template("t").funcs({"later": lambda: "v1"}).parse("{{later}}")
    t.funcs({"later": lambda: "v2"})  # Go: functions may be replaced after parsing
    assert t.execute() == "v2"


# ---- functions ---------------------------------------------------------------------------------------------
def test_python_exception_is_gos_error_calling() -> None:
    def boom(x: object) -> str:
        raise ValueError(f"bad {x}")

    with pytest.raises(ExecError) as e:
        render("a{{boom 1}}b", funcs={"boom": boom})
    assert str(e.value) == 'template: t:1:3: executing "t" at <boom 1>: error calling boom: bad 1'
    assert e.value.output == "a" and e.value.detail == "error calling boom: bad 1"


def test_plain_callable_arity_and_variadic() -> None:
    funcs = {"two": lambda a, b: f"{a}{b}", "many": lambda *xs: len(xs)}
    assert render("{{two 1 2}} {{many}} {{many 1 2 3}} {{3 | two 4}}", funcs=funcs) == "12 0 3 43"
    with pytest.raises(ExecError, match="wrong number of args for two: want 2 got 1"):
        render("{{two 1}}", funcs=funcs)


def test_declared_go_types() -> None:
    @go_func("string", "...int")
    def rep(s: str, *ns: int) -> str:
        return s * sum(ns)

    assert render('{{rep "ab" 1 2}}', funcs={"rep": rep}) == "ababab"
    with pytest.raises(ExecError, match='expected integer; found "x"'):
        render('{{rep "a" "x"}}', funcs={"rep": rep})
    with pytest.raises(ExecError, match="wrong type for value; expected string; got int"):
        render("{{rep .}}", 5, funcs={"rep": rep})
    assert isinstance(rep, GoFunc) and rep.params == ("string", "...int") and rep("x", 2) == "xx"


def test_context_hook_sees_data_and_runs_templates() -> None:
    seen: list[object] = []

    @go_func("string", context=True)
    def sub(ctx: ExecContext, name: str) -> str:
        seen.append(ctx.data)
        assert ctx.template.lookup(name) is not None
        return ctx.execute_template(name, {"v": 7}).upper()

    t = Template("t", funcs={"sub": sub}).parse('{{define "p"}}p{{.v}}{{end}}[{{sub "p"}}]')
    assert t.execute({"root": 1}) == "[P7]" and seen == [{"root": 1}]


def test_recursion_through_a_function_is_a_depth_error() -> None:
    @go_func("string", context=True)
    def again(ctx: ExecContext, name: str) -> str:
        return ctx.execute_template(name)

    t = Template("t", funcs={"again": again}).parse('{{define "r"}}{{again "r"}}{{end}}{{template "r"}}')
    with pytest.raises(ExecDepthError, match="exceeded maximum template depth"):
        t.execute()


# ---- recursion never crashes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    '{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}',
    '{{define "r"}}{{range .}}{{if 1}}{{with 1}}{{template "r" $}}{{end}}{{end}}{{end}}{{end}}{{template "r" .}}',
])
def test_template_recursion_is_a_depth_error(text: str) -> None:
    with pytest.raises(ExecDepthError, match=r"exceeded maximum template depth \(\d+\)"):
        Template("t").parse(text).execute([1])


@pytest.mark.parametrize("text, message", [
    ("{{" + "(" * 400 + "1" + ")" * 400 + "}}", "max expression depth exceeded"),
    ("{{if 1}}" * 400 + "{{end}}" * 400, "max nesting depth exceeded"),
])
def test_parse_nesting_is_a_parse_error(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        Template("t").parse(text)


def test_deeply_nested_data_is_an_error_not_a_crash() -> None:
    data: list[object] = []
    cur = data
    for _ in range(5000):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(ExecDepthError):
        render("{{.}}", data)
    with pytest.raises(ExecDepthError):
        render("{{printf `%v` .}}", data)


# ---- finalize hook ------------------------------------------------------------------------------------------
def test_finalize_sees_every_action_and_may_refuse() -> None:
    calls: list[tuple[object, str]] = []

    def final(value: object, text: str) -> str:
        calls.append((value, text))
        if ";" in text:
            raise ValueError(f"refused {text!r}")
        return text.upper()

    t = Template("t", finalize=final).parse("a;{{.x}} {{1.5}}{{$v := 2}}")
    assert t.execute({"x": "web"}) == "a;WEB 1.5" and calls == [("web", "web"), (1.5, "1.5")]
    with pytest.raises(ExecError, match=r"executing \"t\" at <{{.x}}>: refused 'a;b'"):
        t.execute({"x": "a;b"})


def test_data_is_never_template_text() -> None:
    assert render("{{.}}", "{{.Secret}} {{- end}}") == "{{.Secret}} {{- end}}"


# ---- the value model --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Svc:
    Name: str
    Port: int
    secret: str = "s"

    def URL(self) -> str:  # noqa: N802 - Go's exported name
        return f"{self.Name}:{self.Port}"

    def lower(self) -> str:
        return "not a Go method"


class Mapped:
    __go_fields__ = {"Address": "addr", "Port": "port"}
    __go_type__ = "*api.Node"

    def __init__(self) -> None:
        self.addr, self.port = "198.18.0.3", 53

    def String(self) -> str:  # noqa: N802
        return f"node@{self.addr}"


def test_dataclass_struct() -> None:
    s = Svc("web", 80)
    assert render("{{.Name}} {{.URL}} {{.}} {{printf `%+v|%T` . .}}", s) == \
        "web web:80 {web 80 s} {Name:web Port:80 secret:s}|test_gt_api.Svc"
    with pytest.raises(ExecError, match="can't evaluate field lower in type test_gt_api.Svc"):
        render("{{.lower}}", s)
    with pytest.raises(ExecError, match="secret is an unexported field of struct type test_gt_api.Svc"):
        render("{{.secret}}", s)


def test_declared_struct_with_stringer_and_pointer_type() -> None:
    m = Mapped()
    assert render("{{.Address}} {{.Port}} {{.}} {{printf `%T %d` . .Port}}", m) == \
        "198.18.0.3 53 node@198.18.0.3 *api.Node 53"
    assert render("{{printf `%v %+d` .n .n}}", {"n": Mapped()}) == "node@198.18.0.3 &{%!d(string=198.18.0.3) +53}"


def test_typed_containers() -> None:
    data = {"tags": GoSlice(["a", "b"], elem="string", name="api.Tags"), "meta": GoMap({"k": "v"}, elem="string")}
    assert render("{{printf `%T %T` .tags .meta}} [{{.meta.nope}}]", data, missingkey="zero") == \
        "api.Tags map[string]string []"
    assert render("[{{.meta.nope}}] [{{.plain.nope}}]", {**data, "plain": {}}) == "[<no value>] [<no value>]"


def test_strings_are_go_bytes() -> None:
    out = render("{{slice . 0 2}}|{{len .}}|{{index . 1}}", "héllo")
    assert go_bytes(out) == b"h\xc3|6|195"


def test_truth_and_helpers() -> None:
    assert [is_true(v) for v in (0, 0.0, "", [], {}, None, False, 1, "x", [0], Svc("", 0))] == \
        [False] * 7 + [True] * 4
    assert sprintf("%5.1f|%-4s|%x|%v", 3.14159, "ab", "hi", [1, "a"]) == "  3.1|ab  |6869|[1 a]"
    assert sprint(1, 2, "a", "b", 3) == "1 2ab3" and sprintln("a", 1) == "a 1\n"
    assert html_escape("<'&\">") == "&lt;&#39;&amp;&#34;&gt;"
    assert js_escape("a'<\u2028") == "a\\'\\u003C\\u2028"
    assert url_query_escape("a b/é") == "a+b%2F%C3%A9"


# ---- sharing ----------------------------------------------------------------------------------------------
def test_concurrent_executions_share_nothing() -> None:
    t = Template("t").parse("{{range $i, $e := .}}{{$x := $e}}{{$i}}={{$x}};{{end}}")
    inputs = [[f"{n}-{i}" for i in range(50)] for n in range(8)]
    expected = [t.execute(d) for d in inputs]
    results: dict[int, list[str]] = {}

    def work(n: int) -> None:
        results[n] = [t.execute(inputs[n]) for _ in range(30)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(results[n] == [expected[n]] * 30 for n in range(8))
