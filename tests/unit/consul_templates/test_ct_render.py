"""Rendering: template functions over the store, dependency discovery, output safety, determinism."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consul_templates.functions import KEY, KEYS, SERVICE, SERVICES, Dependency
from consul_templates.languages import RenderInput
from consul_templates.render import RenderError, Template, UnsafeValue, finalize, nginx_quote

EXAMPLE = Path(__file__).resolve().parents[3] / "consul_templates" / "examples" / "nginx-upstream.conf.j2"
WEB = Dependency(SERVICE, "web", passing=True)
INJECTION = "198.18.0.1;\n} server { listen 9999; }"


def health(*instances: tuple[str, str, int], status: str = "passing", node_addr: str = "127.0.0.1") -> list[dict]:
    """Consul /v1/health/service JSON for (id, address, port) triples."""
    return [{"Node": {"Node": "n1", "Address": node_addr},
             "Service": {"ID": i, "Service": "web", "Address": a, "Port": p, "Tags": ["b", "a"], "Meta": {"z": "1"}},
             "Checks": [{"Status": "passing"}, {"Status": status}]} for i, a, p in instances]


def kv(pairs: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": base64.b64encode(v.encode()).decode()} for k, v in pairs.items()]


UPSTREAM = """\
upstream web {
{% for i in service('web') %}
    server {{ i.hostport }};
{% else %}
    {{ empty_upstream() }}
{% endfor %}
}
"""


def test_upstream_lists_instances_sorted() -> None:
    store = {WEB: WEB.decode(health(("b", "127.0.0.1", 9002), ("a", "127.0.0.1", 9001), ("c", "::1", 9003)))}
    out = Template("t", UPSTREAM).render(RenderInput(store, {}))
    servers = ["127.0.0.1:9001", "127.0.0.1:9002", "[::1]:9003"]
    assert out.text == "upstream web {\n" + "".join(f"    server {s};\n" for s in servers) + "}\n"
    assert out.used == {WEB} and not out.missing


def test_empty_upstream_gets_a_down_server() -> None:
    out = Template("t", UPSTREAM).render(RenderInput({WEB: ()}, {}))
    assert "server 127.0.0.1:1 down;" in (out.text or "")


def test_missing_data_is_not_rendered_and_names_what_it_waits_for() -> None:
    out = Template("t", UPSTREAM + "{{ key('cfg/x') }}").render(RenderInput({}, {}))
    assert out.text is None and out.missing == {WEB, Dependency(KEY, "cfg/x")}


def test_nested_dependencies_are_discovered_pass_by_pass() -> None:
    text = "{% for s in services() %}{% for i in service(s.name) %}{{ i.port }} {% endfor %}{% endfor %}"
    tpl = Template("t", text)
    catalog = Dependency(SERVICES)
    first = tpl.render(RenderInput({}, {}))
    assert first.missing == {catalog}
    store = {catalog: catalog.decode({"web": [], "api": ["x"]})}
    second = tpl.render(RenderInput(store, {}))
    api = Dependency(SERVICE, "api", passing=True)
    assert second.text is None and second.missing == {WEB, api}
    store |= {WEB: WEB.decode(health(("a", "127.0.0.1", 1))), api: ()}
    assert tpl.render(RenderInput(store, {})).text == "1 "


def test_status_and_address_fallback() -> None:
    dep = Dependency(SERVICE, "web")
    (inst,) = dep.decode(health(("a", "", 80), status="critical", node_addr="127.0.0.2"))
    assert inst.address == "127.0.0.2" and inst.status == "critical" and inst.tags == ("a", "b")
    assert inst.meta == {"z": "1"} and inst.node == "n1"
    assert dep.query() == ("/v1/health/service/web", [])
    assert WEB.query() == ("/v1/health/service/web", [("passing", "1")])
    assert Dependency(SERVICE, "w", tag="t", dc="d2").query() == ("/v1/health/service/w", [("dc", "d2"), ("tag", "t")])


def test_keys_ls_tree_and_defaults() -> None:
    keys = Dependency(KEYS, "app")
    store = {
        Dependency(KEY, "app/name"): Dependency(KEY, "app/name").decode(kv({"app/name": "shop"})),
        Dependency(KEY, "absent"): None,
        keys: keys.decode(kv({"app/name": "shop", "app/db/host": "h", "app/db/": "", "app/a": "1"})),
    }
    text = ("{{ key('app/name') }} {{ key_or_default('absent', 'dflt') }} "
            "{% for p in ls('app') %}{{ p.key }}={{ p.value }},{% endfor %} "
            "{% for p in tree('app/') %}{{ p.path }},{% endfor %} {{ env('ZONE', 'z0') }}")
    out = Template("t", text).render(RenderInput(store, {"ZONE": "eu"}))
    assert out.text == "shop dflt a=1,name=shop, app/a,app/db/host,app/name, eu"


def test_key_that_does_not_exist_blocks_the_render() -> None:
    dep = Dependency(KEY, "absent")
    out = Template("t", "{{ key('absent') }}").render(RenderInput({dep: None}, {}))
    assert out.text is None and out.blocked == {dep} and not out.missing


def test_injection_is_refused_and_the_source_named() -> None:
    key = Dependency(KEY, "upstream/addr")
    with pytest.raises(RenderError) as err:
        Template("up.j2", "server {{ key('upstream/addr') }}:80;").render(RenderInput({key: INJECTION}, {}))
    msg = str(err.value)
    assert "up.j2" in msg and "key('upstream/addr')" in msg and repr(INJECTION) in msg
    assert err.value.used == {key}


def test_injection_through_a_service_address_is_refused() -> None:
    store = {WEB: WEB.decode(health(("evil", "127.0.0.1:1; } server { listen 9999; }", 80)))}
    with pytest.raises(RenderError, match=r"service\('web'\)\['evil'\]\.address"):
        Template("t", UPSTREAM).render(RenderInput(store, {}))


def test_explicit_filters_let_text_through_quoted() -> None:
    key = Dependency(KEY, "motd")
    store = {key: 'say "hi"; now'}
    text = "return 200 {{ key('motd')|nginx_quote }};\n{{ key('motd')|json }}"
    out = Template("t", text).render(RenderInput(store, {}))
    assert out.text == 'return 200 "say \\"hi\\"; now";\n"say \\"hi\\"; now"'
    with pytest.raises(RenderError, match="cannot be quoted"):
        Template("t", "{{ key('motd')|nginx_quote }}").render(RenderInput({key: "a\nb"}, {}))


def test_markup_from_safe_or_tojson_is_still_checked() -> None:
    with pytest.raises(RenderError):
        Template("t", "{{ key('x')|safe }}").render(RenderInput({Dependency(KEY, "x"): "a;b"}, {}))
    with pytest.raises(RenderError):
        Template("t", "{{ key('x')|tojson }}").render(RenderInput({Dependency(KEY, "x"): "a"}, {}))


def test_macros_and_set_blocks_keep_working() -> None:
    text = ("{% macro srv(i) %}server {{ i.hostport }};{% endmacro %}"
            "{% for i in service('web') %}{{ srv(i) }}{% endfor %}")
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 1)))}
    assert Template("t", text).render(RenderInput(store, {})).text == "server 127.0.0.1:1;"
    evil = {WEB: WEB.decode(health(("a", "1.2.3.4;", 1)))}
    with pytest.raises(RenderError):
        Template("t", text).render(RenderInput(evil, {}))


def test_strict_undefined_and_sandbox() -> None:
    with pytest.raises(RenderError, match="undefined"):
        Template("t", "{{ nope }}").render(RenderInput({}, {}))
    with pytest.raises(RenderError):
        Template("t", "{{ service.__globals__ }}").render(RenderInput({}, {}))
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 1)))}
    for expr in ("i.__class__.__mro__", "i.__slots__", "i.meta.__class__"):
        with pytest.raises(RenderError):
            Template("t", "{% for i in service('web') %}{{ " + expr + " }}{% endfor %}").render(RenderInput(store, {}))
    with pytest.raises(RenderError, match="syntax error at line 2"):
        Template("t", "ok\n{% for %}")


def test_none_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        finalize(None)


def test_identical_data_gives_identical_bytes() -> None:
    a = health(("b", "127.0.0.1", 2), ("a", "127.0.0.1", 1))
    tpl = Template("t", UPSTREAM + "{{ service('web')|json }}")
    out1 = tpl.render(RenderInput({WEB: WEB.decode(a)}, {}))
    out2 = tpl.render(RenderInput({WEB: WEB.decode(list(reversed(a)))}, {}))
    assert out1.text == out2.text
    assert json.loads((out1.text or "").split("}\n", 1)[1])[0]["meta"] == {"z": "1"}


def test_shipped_example_renders_valid_upstreams() -> None:
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 9001)))}
    env = {"PORTSIDE_SERVICE": "web", "PORTSIDE_LISTEN": "127.0.0.1:8080"}
    out = Template("ex", EXAMPLE.read_text(), EXAMPLE.parent).render(RenderInput(store, env))
    assert out.text is not None and "server 127.0.0.1:9001" in out.text and "listen 127.0.0.1:8080;" in out.text
    empty = Template("ex", EXAMPLE.read_text(), EXAMPLE.parent).render(RenderInput({WEB: ()}, env))
    assert "server 127.0.0.1:1 down;" in (empty.text or "")


# ---- properties ----------------------------------------------------------------------------------
SYNTAX = re.compile(r"[;{}'\"#\\$\s]")


@given(st.text())
def test_finalize_never_lets_syntax_through(value: str) -> None:
    try:
        out = finalize(value)
    except UnsafeValue:
        assert SYNTAX.search(value) or any(ord(c) < 32 or 127 <= ord(c) <= 159 or c in "\u2028\u2029\ufffe\uffff"
                                           or 0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    assert out == value and not SYNTAX.search(out)


@given(st.text())
def test_a_rendered_directive_keeps_its_shape(value: str) -> None:
    key = Dependency(KEY, "v")
    try:
        text = Template("t", "upstream u { server {{ key('v') }}; }").render(RenderInput({key: value}, {})).text
    except RenderError:
        return
    assert text is not None
    assert text.count(";") == 1 and text.count("{") == 1 and text.count("}") == 1 and "\n" not in text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc",), blacklist_characters="$")))
def test_nginx_quote_round_trips(value: str) -> None:
    quoted = str(nginx_quote(value))
    assert quoted.startswith('"') and quoted.endswith('"')
    inner = quoted[1:-1]
    assert re.fullmatch(r'(?:[^"\\]|\\["\\])*', inner)  # no unescaped quote can end the string early
    assert re.sub(r"\\(.)", r"\1", inner) == value
