"""consul-template's pure functions against facts recorded from consul-template v0.41.1 (go_facts.json, written by
`python -m tests.support.ct_facts`): each snippet renders to the same bytes, or fails with the same error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, RenderError, RenderInput

FACTS = json.loads((Path(__file__).parent / "go_facts.json").read_text())
# Error texts worded differently here (the render fails all the same): parser messages of other libraries.
WORDING = {
    '{{ parseYAML "a: [" }}': "PyYAML's parser words YAML syntax errors its own way",
}
# Where we render differently (strict xfail: a fix shows up as a failure to remove the entry).
KNOWN = {
    '{{ parseYAML "x: &a {k: 1}\\ny:\\n  <<: *a\\n  j: 2" }}':
        "engine: Go orders interface map keys of different types by type (string before bool)",
    '{{ printf "%T" (add 1 2) }}': "engine: %T of an int64 result prints int (a Python int has no Go width)",
    '{{ toYAML (parseYAML "1: a\\n2.5: b\\ntrue: c\\nx: d") }}':
        "a YAML map with both the keys 1 and true: equal keys in a Python dict (True == 1), one is lost",
}
_GO_ERROR = re.compile(r'(template: :\d+:\d+: executing "" at <.*)$')


def _render(snippet: str) -> str:
    outcome = GoTemplate("fact", snippet, CompileOptions(guard=GUARDS["none"])).render(RenderInput({}, {}))
    assert outcome.text is not None
    return outcome.text


@pytest.mark.parametrize("snippet", [
    pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=KNOWN[s])) if s in KNOWN else s
    for s in sorted(FACTS["ok"])])
def test_renders_as_consul_template(snippet: str) -> None:
    assert _render(snippet) == FACTS["ok"][snippet]


@pytest.mark.parametrize("snippet", sorted(FACTS["errors"]))
def test_fails_as_consul_template(snippet: str) -> None:
    with pytest.raises(RenderError) as info:
        _render(snippet)
    go = _GO_ERROR.search(FACTS["errors"][snippet])
    assert go is not None, FACTS["errors"][snippet]
    ours = str(info.value)
    if snippet in WORDING:
        assert "error calling" in ours, ours
    else:
        assert ours.endswith(go.group(1)), f"\nours: {ours}\ngo:   {go.group(1)}"
