"""Value guards per destination syntax, checked against real parsers (json, yaml.safe_load), the default
syntax by destination, and one hostile service instance dropped while the others render."""

from __future__ import annotations

import json
import logging
from pathlib import Path, PurePath

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consul_templates.functions import KEY, SERVICE, Dependency
from consul_templates.guards import GUARDS, default_syntax
from consul_templates.languages import CompileOptions, RenderError, RenderInput, render_guarded
from consul_templates.render import Template

WEB = Dependency(SERVICE, "web", passing=True)
UPSTREAM = "upstream web {\n{% for i in service('web') %}    server {{ i.address }}:{{ i.port }};\n{% endfor %}}\n"
# what hostile values look like: structure characters of every syntax, line breaks, unicode line separators
hostile = st.text(st.sampled_from(list("ab1 :-#\"'\\{}[],&*!|>%@`$;\n\t\r\x00\x85\u2028?.")), max_size=12)
values = st.one_of(st.text(max_size=20), hostile)


def health(*instances: tuple[str, str, int]) -> list[dict]:
    return [{"Node": {"Node": "n1", "Address": "127.0.0.1"},
             "Service": {"ID": i, "Service": "web", "Address": a, "Port": p, "Tags": [], "Meta": {}},
             "Checks": [{"Status": "passing"}]} for i, a, p in instances]


def render(text: str, value: str, syntax: str) -> str | None:
    tpl = Template("t", text, options=CompileOptions(guard=GUARDS[syntax]))
    key = Dependency(KEY, "v")
    try:
        return render_guarded(tpl, RenderInput({key: value}, {}), GUARDS[syntax]).text
    except RenderError:
        return None


@settings(max_examples=300, deadline=None)  # a loaded machine is not a failure
@given(values)
def test_json_values_never_leave_their_string(value: str) -> None:
    out = render('{"a": "{{ key(\'v\') }}", "b": 1}\n', value, "json")
    if out is None:
        assert GUARDS["json"].reason(value) is not None
        return
    assert json.loads(out) == {"a": value, "b": 1}


@settings(max_examples=300, deadline=None)  # a loaded machine is not a failure
@given(values)
def test_json_encoder_takes_any_value(value: str) -> None:
    out = render('{"a": {{ key(\'v\')|json }}, "b": 1}\n', value, "json")
    assert out is not None and json.loads(out) == {"a": value, "b": 1}


@settings(max_examples=500, deadline=None)
@given(values)
@example("<<")  # YAML 1.1's merge key: pyyaml's safe_load refuses the whole document
@example("2001-02-30")  # a date that does not exist: the same
def test_yaml_values_keep_the_document_shape(value: str) -> None:
    text = "a: {{ key('v') }}\nb: \"{{ key('v') }}\"\nc: '{{ key('v') }}'\nd: 1\n"
    out = render(text, value, "yaml")
    if out is None:
        assert GUARDS["yaml"].reason(value) is not None
        return
    doc = yaml.safe_load(out)
    assert isinstance(doc, dict) and list(doc) == ["a", "b", "c", "d"] and doc["d"] == 1
    assert doc["b"] == value and doc["c"] == value
    assert not isinstance(doc["a"], dict | list)  # a plain scalar stays a scalar (it may be typed: 1, true, null)


def test_yaml_dates_that_exist_and_plain_strings_pass() -> None:
    for value in ("2001-02-28", "2001-12-14 21:59:43.10 -5", "<<x", "a=b", "1.0", "true", "~"):
        assert GUARDS["yaml"].reason(value) is None, value


@pytest.mark.parametrize(("syntax", "value"), [
    ("json", "say \"hi\"\nnow"), ("yaml", "key: value"), ("yaml", "|"), ("yaml", "- item"), ("yaml", "a #b"),
    ("yaml", "<<"), ("yaml", " << "), ("yaml", "="), ("yaml", "2001-13-45"), ("yaml", "2001-02-30"),
    ("yaml", "2001-01-01 99:99:99"),
    ("env", "a\nB=2"), ("env", "$HOME"), ("env", "a'b"), ("haproxy", "a b"), ("haproxy", "%[src]"),
    ("haproxy", "x\n  server evil 198.18.0.9:80"), ("nginx", "$http_x_forward_to"), ("nginx", "a;b"),
])
def test_structure_changing_values_are_refused(syntax: str, value: str) -> None:
    assert GUARDS[syntax].reason(value) is not None


@pytest.mark.parametrize(("syntax", "value"), [
    ("json", "hello, world: {ok} [1] $x #y"), ("yaml", "hello, world"), ("yaml", "http://h:80/x?y=1"),
    ("env", "a b c, d=e:f/g"), ("haproxy", "127.0.0.1:8080"), ("none", "anything; at {all}\n"),
])
def test_plain_data_renders_where_it_is_harmless(syntax: str, value: str) -> None:
    assert GUARDS[syntax].reason(value) is None


@pytest.mark.parametrize(("path", "syntax"), [
    ("/etc/nginx/conf.d/up.conf", "nginx"), ("/srv/app/config.json", "json"), ("/srv/app.yml", "yaml"),
    ("/srv/app.yaml", "yaml"), ("/srv/.env", "env"), ("/srv/app.env", "env"), ("/srv/.env.production", "env"),
    ("/etc/haproxy/haproxy.cfg", "haproxy"), ("/srv/other.cfg", "nginx"), ("/srv/motd.txt", "nginx"),
])
def test_default_syntax_by_destination(path: str, syntax: str) -> None:
    assert default_syntax(PurePath(path)) == syntax


def test_one_hostile_instance_is_dropped_and_the_rest_rendered() -> None:
    evil = "127.0.0.1:1; } server { listen 9999; }"
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 9001), ("evil", evil, 80), ("c", "127.0.0.3", 9003)))}
    dropped = []
    out = render_guarded(Template("up", UPSTREAM), RenderInput(store, {}), GUARDS["nginx"], dropped.append)
    assert out.text == "upstream web {\n    server 127.0.0.1:9001;\n    server 127.0.0.3:9003;\n}\n"
    (item,) = out.dropped
    assert dropped == [item] and item.instance_id == "evil" and item.field == "address" and item.value == evil
    assert "instance 'evil'" in item.describe() and "address" in item.describe()


def test_a_hostile_kv_value_still_fails_the_whole_render() -> None:
    key = Dependency(KEY, "cfg/listen")
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 9001))), key: "80; include /etc/passwd"}
    with pytest.raises(RenderError, match=r"key\('cfg/listen'\)"):
        render_guarded(Template("t", UPSTREAM + "listen {{ key('cfg/listen') }};"), RenderInput(store, {}),
                       GUARDS["nginx"])


def test_an_innocent_instance_whose_name_appears_in_a_refused_value_is_kept() -> None:
    key = Dependency(KEY, "x")
    store = {WEB: WEB.decode(health(("a", "127.0.0.1", 9001))), key: "127.0.0.1 evil"}
    with pytest.raises(RenderError):
        render_guarded(Template("t", UPSTREAM + "{{ key('x') }}"), RenderInput(store, {}), GUARDS["nginx"])


def test_recursion_in_a_template_is_a_render_error() -> None:
    text = "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}"
    with pytest.raises(RenderError, match="recursion too deep"):
        Template("deep", text).render(RenderInput({}, {}))


async def test_runner_logs_and_counts_a_dropped_instance(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from consul_templates.config import Config, TemplateSpec
    from consul_templates.runner import Runner

    spec = TemplateSpec(destination=tmp_path / "up.conf", contents=UPSTREAM)
    runner = Runner(Config(templates=(spec,)), source=None)  # type: ignore[arg-type]
    runner.store.put(WEB, WEB.decode(health(("a", "127.0.0.1", 9001), ("bad", "1.2.3.4 down", 1))))
    st_ = runner.states[0]
    with caplog.at_level(logging.WARNING, "consul_templates.runner"):
        assert runner._render(st_) == "upstream web {\n    server 127.0.0.1:9001;\n}\n"
        runner._render(st_)
    sample = runner.metrics.registry.get_sample_value(
        "consul_templates_values_refused_total", {"template": spec.name, "reason": "instance_dropped"})
    assert sample == 2
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 1 and "'bad'" in lines[0] and "address" in lines[0]  # logged once while it stays bad


def test_recursion_in_any_engine_is_a_render_error() -> None:
    class Deep:
        name = "go-like"

        def render(self, data: RenderInput) -> object:
            def down(n: int) -> int:
                return down(n + 1)

            return down(0)

    with pytest.raises(RenderError, match="recursion too deep"):
        render_guarded(Deep(), RenderInput({}, {}), GUARDS["nginx"])  # type: ignore[arg-type]
