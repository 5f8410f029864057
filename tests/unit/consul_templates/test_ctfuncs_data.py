"""consul-template's data functions and queries over a fake Source: query parsing, Consul JSON decoding (status,
filters, sort orders, nil vs empty), and when a render is incomplete or blocked."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consul_templates.ctfuncs import consul_json as cj
from consul_templates.ctfuncs.data import DataFuncs
from consul_templates.ctfuncs.gojson import marshal
from consul_templates.ctfuncs.queries import (
    KeyQuery,
    NodeQuery,
    NodesQuery,
    PrefixQuery,
    QueryError,
    ServiceQuery,
    ServicesQuery,
)
from consul_templates.ctfuncs.source import ABSENT, StoreSource, dependency
from consul_templates.ctfuncs.types import NilMap, Tainted, format_duration, parse_duration
from consul_templates.gotemplates import GoTemplate
from consul_templates.guards import GUARDS
from consul_templates.languages import CompileOptions, RenderInput
from portside import catalog as pc
from portside.catalogjson import decode_health


@pytest.mark.parametrize(("text", "want"), [
    ("web", ServiceQuery("web")),
    ("prod.web", ServiceQuery("web", tag="prod")),
    ("a.b.web@dc2~_agent|warning,passing", ServiceQuery("web", "a.b", "dc2", "_agent", ("passing", "warning"))),
    ("env=prod.api|any", ServiceQuery("api", "env=prod", filters=("any",))),
    ("web|critical,,", ServiceQuery("web", filters=("critical",))),
])
def test_service_query_parses_as_consul_template(text: str, want: ServiceQuery) -> None:
    assert ServiceQuery.parse(text) == want


@pytest.mark.parametrize(("text", "error"), [
    ("bad name", 'health.service: invalid format: "bad name"'),
    ("web|bogus", 'health.service: invalid filter: "bogus" in "web|bogus"'),
    ("web?ns=x", "not supported by consul-templates"),
    ("web?zz=1", 'invalid query parameter key "zz"'),
])
def test_service_query_refused(text: str, error: str) -> None:
    with pytest.raises(QueryError, match=error.replace("?", r"\?").replace("|", r"\|")):
        ServiceQuery.parse(text)


def test_other_queries() -> None:
    assert KeyQuery.parse("/a/b@dc1") == KeyQuery("a/b", "dc1")
    assert PrefixQuery.parse("app/") == PrefixQuery("app/")
    assert NodesQuery.parse("@dc1~n1") == NodesQuery("dc1", "n1")
    assert NodeQuery.parse("") == NodeQuery()
    assert str(ServiceQuery.parse("v2.web@dc1")) == "health.service(v2.web@dc1|passing)"
    path, params = dependency(ServiceQuery.parse("prod.web")).query()
    assert (path, params) == ("/v1/health/service/web", [("tag", "prod"), ("passing", "1")])
    assert dependency(ServiceQuery.parse("web|any")).query()[1] == []
    assert dependency(NodeQuery()).blocking is False  # the agent's own name: /v1/agent/self, polled


def _check(cid: str, status: str) -> dict[str, Any]:
    return {"CheckID": cid, "Status": status}


@pytest.mark.parametrize(("checks", "status"), [
    ([], "passing"),
    ([_check("a", "passing"), _check("b", "warning")], "warning"),
    ([_check("a", "warning"), _check("b", "critical")], "critical"),
    ([_check("_service_maintenance:x", "critical"), _check("b", "passing")], "maintenance"),
    ([_check("_node_maintenance", "critical")], "maintenance"),
    ([_check("a", "unknown")], ""),
])
def test_aggregated_status(checks: list[dict[str, Any]], status: str) -> None:
    assert cj.aggregated_status(checks) == status


def _entry(node: str, sid: str, status: str, address: str = "", tags: Any = None) -> dict[str, Any]:
    return {"Node": {"Node": node, "Address": "198.18.5.1", "Meta": None},
            "Service": {"ID": sid, "Service": "web", "Address": address, "Port": 80, "Tags": tags},
            "Checks": [_check(f"{sid}-c", status)]}


def test_health_services_filter_sort_and_fallbacks() -> None:
    entries = [_entry("n2", "b", "passing"), _entry("n1", "z", "warning", "198.18.9.9", ["y", "x"]),
               _entry("n1", "a", "critical")]
    got = cj.health_services(entries, ServiceQuery.parse("web|passing,warning"))
    assert [(s.Node, s.ID, s.Status) for s in got] == [("n1", "z", "warning"), ("n2", "b", "passing")]
    assert got[0].Address == "198.18.9.9" and got[1].Address == "198.18.5.1"  # node address when the service has none
    assert list(got[0].Tags) == ["x", "y"] and got[1].Tags.go_type == "dependency.ServiceTags"
    assert isinstance(got[0].NodeMeta, NilMap) and isinstance(got[0].Node, Tainted)
    near = cj.health_services(entries, ServiceQuery.parse("web~_agent|any"))
    assert [s.ID for s in near] == ["b", "z", "a"]  # Consul's distance order is kept


def test_kv_list_keys_are_relative_to_the_prefix() -> None:
    raw = [{"Key": "app/a", "Value": base64.b64encode(b"1").decode()}, {"Key": "app/", "Value": None},
           {"Key": "apple", "Value": base64.b64encode(b"\xff").decode()}]
    pairs = cj.kv_list(raw, "app")
    assert [(p.Key, p.Value) for p in pairs] == [("a", "1"), ("", ""), ("le", "\ufffd")]


def test_catalog_node_unknown_is_an_empty_node() -> None:
    node = cj.catalog_node(None)
    assert node.Node is None and list(node.Services) == []


class FakeSource:
    def __init__(self, data: dict[Any, Any]) -> None:
        self.data = data
        self.used: list[Any] = []
        self.blocked: list[Any] = []

    def recall(self, query: Any) -> Any:
        self.used.append(query)
        return self.data.get(query, ABSENT)

    def block(self, query: Any) -> None:
        self.blocked.append(query)


def test_key_blocks_on_a_missing_key_and_key_or_default_does_not() -> None:
    src = FakeSource({KeyQuery("a"): None, KeyQuery("b"): "", KeyQuery("c"): "v"})
    funcs = DataFuncs(src)
    assert funcs.key("a") == "" and src.blocked == [KeyQuery("a")]
    assert funcs.key_or_default("a", "d") == "d" and funcs.key_or_default("b", "d") == "d"
    assert funcs.key_or_default("c", "d") == "v" and funcs.key_exists("b") is True and funcs.key_exists("a") is False
    assert funcs.key("") == "" and funcs.key_or_default("", "x") == "x"
    assert funcs.key("z") == "" and src.blocked == [KeyQuery("a")]  # not answered yet: missing, not blocked


def test_safe_ls_blocks_on_an_empty_prefix() -> None:
    src = FakeSource({PrefixQuery("p"): cj.kv_list([{"Key": "p/dir/", "Value": None}], "p")})
    funcs = DataFuncs(src)
    assert list(funcs.ls("p")) == [] and not src.blocked
    assert list(funcs.safe_ls("p")) == [] and src.blocked == [PrefixQuery("p")]


def test_store_source_records_used_missing_blocked() -> None:
    dep = dependency(KeyQuery("x"))
    source = StoreSource({dep: None})
    assert source.recall(KeyQuery("x")) is None and source.recall(KeyQuery("y")) is ABSENT
    source.block(KeyQuery("x"))
    assert source.used == {dep, dependency(KeyQuery("y"))} and source.missing == {dependency(KeyQuery("y"))}
    assert source.blocked == {dep}


def test_render_is_incomplete_until_every_query_answered() -> None:
    template = GoTemplate("t", '{{ key "a" }}-{{ range service "web" }}{{ .Port }}{{ end }}')
    first = template.render(RenderInput({}, {}))
    assert first.text is None and len(first.missing) == 2
    store = {dependency(KeyQuery("a")): "x", dependency(ServiceQuery("web")): []}
    assert template.render(RenderInput(store, {})).text == "x-"
    store[dependency(KeyQuery("a"))] = None
    blocked = template.render(RenderInput(store, {}))
    assert blocked.text is None and blocked.blocked == {dependency(KeyQuery("a"))}


@pytest.mark.parametrize(("ns", "text"), [(0, "0s"), (1500, "1.5µs"), (1_500_000, "1.5ms"), (90 * 10**9, "1m30s"),
                                          (3600 * 10**9, "1h0m0s"), (-2 * 10**9, "-2s"), (10**9 + 1, "1.000000001s")])
def test_go_durations(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


def test_views_of_the_catalog_model_give_consul_templates_values() -> None:
    """Where the catalog feed serves services and nodes, Go templates read views of portside.catalog."""

    checks = (pc.Check("n1", "serfHealth", "passing", "Serf"), pc.Check("n1", "c1", "warning", "http", "a", "web"))
    a = pc.Instance("a", "web", "n1", "198.18.5.1", 80, node_address="198.18.5.9", tags=("x", "y"),
                    meta=pc.FrozenMap([("k", "v")]), checks=checks, status="warning", weight_passing=3)
    b = pc.Instance("b", "web", "n2", "198.18.5.2", 81, checks=(pc.Check("n2", "_node_maintenance", "critical"),),
                    status="critical", maintenance=True)
    cat = pc.Catalog(services={"web": (a, b)}, summaries={"web": pc.ServiceSummary("web", ("x", "y"))},
                     nodes={"n2": pc.Node("n2", "198.18.5.2"), "n1": pc.Node("n1", "198.18.5.9", "dc1")})
    default = dependency(ServiceQuery.parse("web")).view(cat)
    assert default == []  # warning and maintenance are not passing
    view = dependency(ServiceQuery.parse("x.web|any")).view(cat)
    assert [(s.ID, s.Status, s.Weights.Passing, list(s.Tags)) for s in view] == [("a", "warning", 3, ["x", "y"])]
    assert view[0].ServiceMeta == {"k": "v"} and [c.CheckID for c in view[0].Checks] == ["serfHealth", "c1"]
    assert [s.ID for s in dependency(ServiceQuery.parse("web|maintenance")).view(cat)] == ["b"]
    assert [(s.Name, list(s.Tags)) for s in dependency(ServicesQuery()).view(cat)] == [("web", ["x", "y"])]
    assert [n.Node for n in dependency(NodesQuery()).view(cat)] == ["n1", "n2"]


_CHECK_STATES = ["passing", "warning", "critical", "bogus"]


@st.composite
def _health_entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    """/v1/health/service answers as Consul shapes them: null or filled maps, tags with duplicates, tagged
    addresses, node and service checks in any state (one outside Consul's), maintenance checks."""
    out = []
    for k in range(draw(st.integers(0, 4))):
        node = draw(st.sampled_from(["n1", "n2"]))
        sid = f"web-{k}"
        meta = draw(st.sampled_from([None, {}, {"v": "1", "a": "b"}]))
        tags = draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=4))
        checks = [{"Node": node, "CheckID": cid, "Name": cid, "Status": draw(st.sampled_from(_CHECK_STATES)),
                   "Notes": draw(st.sampled_from(["", "a note"])), "Output": "out",
                   "ServiceID": "" if cid == "serfHealth" else sid, "ServiceName": "" if cid == "serfHealth" else "web",
                   "ServiceTags": [] if cid == "serfHealth" else tags,
                   "Type": draw(st.sampled_from(["", "http", "ttl"])),
                   "ExposedPort": 0, "Definition": {}, "CreateIndex": 3, "ModifyIndex": 4}
                  for cid in draw(st.lists(st.sampled_from(["serfHealth", f"{sid}-c", "_node_maintenance",
                                                            f"_service_maintenance:{sid}"]), unique=True))]
        tagged = draw(st.sampled_from([None, {"wan": {"Address": "198.18.0.1", "Port": 1}}]))
        svc = {"ID": sid, "Service": "web", "Tags": tags, "Address": draw(st.sampled_from(["", "127.0.0.5"])),
               "Meta": meta, "Port": 80 + k, "Weights": {"Passing": 2, "Warning": 1}, "ModifyIndex": 4}
        if tagged is not None:
            svc["TaggedAddresses"] = tagged
        out.append({"Node": {"ID": "", "Node": node, "Address": "127.0.0.9", "Datacenter": "dc1",
                             "TaggedAddresses": draw(st.sampled_from([None, {"lan": "127.0.0.9"}])),
                             "Meta": draw(st.sampled_from([None, {}, {"rack": "r1"}]))},
                    "Service": svc, "Checks": checks})
    return out


@settings(max_examples=150, deadline=None)
@given(_health_entries(), st.sampled_from(["web|any", "web|passing", "web|critical", "web|maintenance",
                                           "web|passing,warning", "a.web|any", "web|critical,warning"]))
def test_the_catalog_view_prints_what_consul_templates_decoder_prints(raw: list[dict[str, Any]], text: str) -> None:
    """The catalog feed's view of a service and the decoder of Consul's own answer give the same values, printed
    the same (JSON: null vs {} and [] apart; Go's %+v): what makes the differential test byte-identical."""
    query = ServiceQuery.parse(text)
    entries = [e for e in raw if (not query.tag or query.tag in e["Service"]["Tags"]) and (  # Consul's ?tag, ?passing
        not query.passing_only or all(c["Status"] == "passing" for c in e["Checks"]))]
    theirs = cj.health_services(entries, query)
    ours = cj.health_from_catalog(decode_health(raw).value, query)
    assert marshal(ours) == marshal(theirs)
    template = GoTemplate("t", '{{ printf "%+v" . }}', CompileOptions(guard=GUARDS["none"]))
    assert template.compiled.execute(ours) == template.compiled.execute(theirs)


@settings(max_examples=100, deadline=None)
@given(st.lists(_health_entries(), min_size=1, max_size=4),
       st.sampled_from(["web|any", "web|passing", "a.web|any", "web|critical,warning"]))
def test_a_view_made_with_the_last_views_records_is_the_view_made_anew(answers: list, text: str) -> None:
    """Records of equal instances are taken from the last view; each view equals one made from scratch, printed
    the same, and an instance that changed gets a record of its own."""
    query = ServiceQuery.parse(text)
    kept: dict[Any, Any] = {}
    before: dict[Any, Any] = {}
    for raw in answers:
        instances = decode_health(raw).value
        ours = cj.health_from_catalog(instances, query, kept)
        fresh = cj.health_from_catalog(instances, query)
        assert marshal(ours) == marshal(fresh) and ours == fresh
        for i, record in kept.items():  # reused exactly when an equal instance was there
            assert record is before[i] if i in before else all(record is not r for r in before.values())
        before = dict(kept)
