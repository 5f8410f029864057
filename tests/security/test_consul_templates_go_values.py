"""Attacks on consul-templates' Go templates (consul-template's `.ctmpl` language) through the values they render:
a hostile value cannot be laundered through the function library (join, printf, toUpper, split, slice, sprig,
regexReplaceAll, html, ...) into an nginx file; a hostile instance is dropped and the others are served, against
the real Consul agent, nginx and web containers; a hostile KV value fails the render and the last good file stays."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consul_templates.ctfuncs.queries import KeyQuery
from consul_templates.ctfuncs.source import dependency
from consul_templates.ctfuncs.types import Tainted
from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, RenderError, RenderInput
from tests.support.ct_harness import NGINX_CHECK, seen_through, wait_for

EVIL_ADDRESS = "127.0.0.1:1; } server { listen 9999; }"  # data that must be refused; never a traffic target

# Each wraps the KV value `x` in functions that build text from it; none may carry its syntax into the file.
LAUNDERERS = [
    '{{ key "x" }}', '{{ key "x" | toUpper }}', '{{ key "x" | toLower | toTitle }}', '{{ printf "%s" (key "x") }}',
    '{{ printf "%v-%d" (key "x") 1 }}', '{{ printf "%q" (key "x") }}', '{{ print "a" (key "x") }}',
    '{{ println (key "x") }}',
    '{{ split ":" (key "x") | join ":" }}', '{{ key "x" | replaceAll "a" "b" }}', '{{ key "x" | trimSpace }}',
    '{{ key "x" | regexReplaceAll "(.*)" "$1" }}', '{{ slice (key "x") 0 }}', '{{ index (split "\\n" (key "x")) 0 }}',
    '{{ key "x" | html }}', '{{ key "x" | js }}', '{{ key "x" | indent 2 }}', '{{ sprig_cat (key "x") "y" }}',
    '{{ sprig_upper (key "x") }}', '{{ sprig_join "," (sprig_list (key "x")) }}', '{{ key "x" | base64Encode | '
    'base64Decode }}', '{{ (key "x" | splitToMap ";" "=") }}', '{{ with $v := key "x" }}{{ $v }}{{ end }}',
    '{{ range $i, $c := split "" (key "x") }}{{ $c }}{{ end }}', '{{ keyOrDefault "x" "d" }}',
    '{{ executeTemplate "t" (key "x") }}{{ define "t" }}{{ . }}{{ end }}', '{{ key "x" | toYAML }}',
    '{{ (parseJSON (printf "[%q]" (key "x"))) }}', '{{ scratch.Set "v" (key "x") }}{{ scratch.Get "v" }}',
]
HOSTILE = st.text(alphabet=st.sampled_from(list("ab1.:;{}#'\" \\$\n\t\x00") + ["\u2028"]), min_size=1, max_size=24)


def _render(template: str, value: str) -> str:
    """The text the action printed between the template's own markers, or RenderError."""
    t = GoTemplate("t", f"<<{template}>>", CompileOptions(guard=GUARDS["nginx"]))
    out = t.render(RenderInput({dependency(KeyQuery("x")): Tainted(value)}, {})).text
    assert out is not None and out.startswith("<<") and out.endswith(">>")
    return out[2:-2]


@settings(max_examples=60, deadline=None)
@given(value=HOSTILE, template=st.sampled_from(LAUNDERERS))
@example(value="1", template='{{ key "x" | toYAML }}')  # YAML quotes a string that reads as a number
def test_no_function_launders_a_value_into_nginx_syntax(value: str, template: str) -> None:
    try:
        printed = _render(template, value)
    except RenderError:  # refused, or another error (JSON of a NUL byte): the file is not written either way
        return
    # Syntax the template's own formatting adds (`printf "%q"` quotes, toYAML's quotes around "1") is the author's;
    # what the value brings is not: every unsafe character printed must also be printed for the same value with each
    # of its unsafe characters replaced by a letter (its safe characters kept, so it formats the same way).
    harmless = _render(template, "".join("a" if _unsafe(c) else c for c in value))
    assert _unsafe(printed) <= _unsafe(harmless), (template, value, printed)


def _unsafe(text: str) -> Counter[str]:
    return Counter(c for c in text if GUARDS["nginx"].reason(c) is not None)


@pytest.mark.parametrize("template", LAUNDERERS)
def test_each_launderer_with_a_directive_breakout(template: str) -> None:
    """The breakout is refused, naming the value; or what is printed holds none of it (splitToMap finds no pair)."""
    try:
        printed = _render(template, "127.0.0.1:80; }\nserver { listen 9999;")
    except RenderError as exc:
        assert "refused value" in str(exc), exc
        return
    assert GUARDS["nginx"].reason(printed) is None and "9999" not in printed, printed


def _config(tmp: Path, contents: str, dest: Path, **extra: object) -> Path:
    path = tmp / "templates.yaml"
    template = {"contents": contents, "destination": str(dest), "language": "go", **extra}
    path.write_text(json.dumps({"templates": [template]}))  # JSON is YAML
    return path


def _upstream(name: str, port: int) -> str:
    return (f'upstream {name} {{\n{{{{- range service "{name}" }}}}\n    server {{{{ .Address }}}}:{{{{ .Port }}}}; '
            f'# {{{{ join "," .Tags }}}}\n{{{{- else }}}}\n    server 127.0.0.1:1 down;\n{{{{- end }}}}\n}}\n'
            f"server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://{name}; }}\n}}\n")


@pytest.mark.engines
def test_hostile_instance_dropped_from_a_go_template(nginx, webs, service, daemon, site, listen_port, tmp_path):
    """A Go nginx template: the instance with a breakout address and the one with a breakout tag are dropped
    (logged); nginx keeps serving the good backends and its configuration stays valid."""
    dest = site("go-drop")
    cmd = f"{nginx.check_command} && {nginx.reload_command}"
    d = daemon("--config", str(_config(tmp_path, _upstream(service.name, listen_port), dest,
                                       check_command=NGINX_CHECK, command=cmd)))
    a, b, _ = webs
    service.register(a)
    service.register(b)
    evil = service.register(port=7, address=EVIL_ADDRESS)
    tagged = service.register(port=8)
    service.agent.api("/v1/agent/service/register", "PUT", {"ID": tagged, "Name": service.name, "Port": 8,
                                                            "Address": "127.0.0.1", "Tags": ["x;y"]})
    wait_for(lambda: seen_through(listen_port) == {a.host, b.host}, 20, "both good backends served")
    text = dest.read_text()
    assert "9999" not in text and "x;y" not in text and text.count("server 127.0.0.1:") == 2
    assert nginx.test_config().returncode == 0
    log = d.log()
    assert f"instance {evil!r}" in log and f"instance {tagged!r}" in log and d.alive()


@pytest.mark.engines
def test_hostile_kv_value_keeps_the_last_good_go_render(nginx, service, daemon, site, listen_port, tmp_path):
    dest = site("go-kv")
    text = (f"server {{\n    listen 127.0.0.1:{listen_port};\n"
            f'    location / {{ return 200 "{{{{ key "{service.kv_root}/greeting" | toUpper }}}}"; }}\n}}\n')
    service.kv("greeting", "hello")
    d = daemon("--config", str(_config(tmp_path, text, dest, check_command=NGINX_CHECK)))
    wait_for(lambda: dest.exists(), 15, "first render")
    good = dest.read_text()
    assert "HELLO" in good
    service.kv("greeting", 'x"; } server { listen 9999; } #')
    wait_for(lambda: "refused value" in d.log() and "greeting" in d.log(), 15, "the hostile value refused")
    assert dest.read_text() == good and nginx.test_config().returncode == 0 and d.alive()
