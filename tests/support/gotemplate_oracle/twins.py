"""The Python twins of the oracle's Go types and functions (main.go), and the case data decoded the way the
oracle decodes it, so one case runs identically through Go and through portside.gotemplate."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from portside.gotemplate import ExecContext, GoMap, GoSlice, Template, go_func, sprintf


@dataclass
class Node:
    __go_type__ = "main.Node"
    Name: str = ""
    Address: str = ""
    Meta: GoMap = field(default_factory=lambda: GoMap(key="string", elem="string"))


@dataclass
class Service:
    __go_type__ = "main.Service"
    ID: str = ""
    Name: str = ""
    Address: str = ""
    Port: int = 0
    Tags: GoSlice = field(default_factory=lambda: GoSlice(elem="string"))
    Meta: GoMap = field(default_factory=lambda: GoMap(key="string", elem="string"))
    Weight: float = 0.0
    Node: Node = field(default_factory=Node)
    Extra: Any = None
    private: str = ""

    def URL(self) -> str:  # noqa: N802 - Go's exported method name
        return f"{self.Address}:{self.Port}"

    @go_func("string")
    def HasTag(self, t: str) -> bool:  # noqa: N802
        return t in self.Tags

    @go_func("string", "int")
    def Greet(self, greeting: str, n: int) -> str:  # noqa: N802
        return f"{greeting} {self.Name}!" * n

    def Fail(self) -> str:  # noqa: N802
        raise RuntimeError("service failure")


@dataclass
class ServicePtr(Service):
    __go_type__ = "*main.Service"


@dataclass
class Named:
    __go_type__ = "main.Named"
    Name: str = ""

    def String(self) -> str:  # noqa: N802
        return f"Named({self.Name})"


@dataclass
class Pair:
    __go_type__ = "main.Pair"
    Key: str = ""
    Value: Any = None


def _panicky() -> str:
    raise RuntimeError("boom")


def _fail(msg: str) -> str:
    raise RuntimeError(msg)


DATA_FUNCS = {
    "add": go_func("int", "int")(lambda a, b: a + b),
    "upper": go_func("string")(str.upper),
    "fail": go_func("string")(_fail),
    "join": go_func("string", "...string")(lambda sep, *items: sep.join(items)),
    "hello": go_func(result="string")(lambda: "hello"),
}


@go_func("string", "...interface {}", context=True)
def _exec(ctx: ExecContext, name: str, *data: Any) -> str:
    if len(data) > 1:
        raise RuntimeError(f"exec: wrong number of arguments, expected 1 or 2, but got {len(data) + 1}")
    return ctx.execute_template(name, data[0] if data else None)


FUNCS = {
    "upper": go_func("string")(str.upper),
    "add": DATA_FUNCS["add"],
    "join": DATA_FUNCS["join"],
    "fail": DATA_FUNCS["fail"],
    "panicky": go_func()(_panicky),
    "pair": go_func("interface {}", "interface {}")(lambda a, b: [a, b]),
    "list": go_func("...interface {}")(lambda *items: list(items)),
    "nilret": go_func()(lambda: None),
    "strs": go_func()(lambda: GoSlice(["b", "a"], elem="string")),
    "smap": go_func()(lambda: GoMap({"k": "v", "a": "b"}, key="string", elem="string")),
    "seq": go_func("int")(lambda n: GoSlice(range(n), elem="int")),
    "sum": go_func("...int")(lambda *xs: sum(xs)),
    "typed": go_func("bool", "int", "float64", "string")(lambda b, i, f, s: sprintf("%v %v %v %q", b, i, f, s)),
    "svc": go_func("string")(lambda name: ServicePtr(Name=name, Address="198.18.0.9", Port=8080,
                                                     Tags=GoSlice(["t"], elem="string"))),
    "defsvc": go_func(result="*main.Service")(lambda: ServicePtr(Name="def", Address="198.18.0.8", Port=81,
                                                                Tags=GoSlice(["d"], elem="string"))),
    "exec": _exec,
}


def _struct(fields: dict[str, Any]) -> Any:
    name = fields.pop("$struct")
    base = name.lstrip("*")
    if base == "Service":
        cls = ServicePtr if name.startswith("*") else Service
        kw = {k: _typed_field(k, v) for k, v in fields.items()}
        return cls(**kw)
    if base == "Node":
        return Node(**{k: _typed_field(k, v) for k, v in fields.items()})
    if base == "Named":
        return Named(**fields)
    if base == "Pair":
        return Pair(fields["Key"], convert(fields.get("Value")))
    raise ValueError(f"unknown struct {name}")


def _typed_field(name: str, v: Any) -> Any:
    """A struct field's JSON as Go's json.Unmarshal types it (the field's static type)."""
    if name == "Tags":
        return GoSlice(v or (), elem="string")
    if name == "Meta":
        return GoMap(v or {}, key="string", elem="string")
    if name == "Node":
        return Node(**{k: _typed_field(k, x) for k, x in v.items()})
    if name == "Weight":
        return float(v)
    if name == "Extra":
        return convert(v)
    return v


def convert(v: Any) -> Any:
    """JSON (with the oracle's markers) -> the Python value model."""
    if isinstance(v, list):
        return [convert(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "$struct" in v:
        return _struct(dict(v))
    if len(v) == 1:
        (key, val), = v.items()
        if key == "$strings":
            return GoSlice(val, elem="string")
        if key == "$ints":
            return GoSlice(val, elem="int")
        if key == "$smap":
            return GoMap(val, key="string", elem="string")
        if key == "$imap":
            return GoMap({int(k): convert(x) for k, x in val.items()}, key="int", elem="interface {}")
        if key == "$func":
            return DATA_FUNCS[val]
        if key == "$bytes":
            return val.encode()
    return {k: convert(x) for k, x in v.items()}


def decode_data(data: Any) -> Any:
    """The case's data as the oracle sees it: through JSON (so 2.0 stays a float, 2 an int)."""
    return convert(json.loads(json.dumps(data)))


def build_template(case: dict[str, Any]) -> Template:
    """The Python side of the oracle's run(): the same set-up calls, in the same order."""
    t = Template(case["name"])
    if case.get("delims"):
        t.delims(*case["delims"])
    t.funcs(FUNCS)
    if case.get("options"):
        t.option(*case["options"])
    t.parse(case["template"])
    for name, text in case.get("extra") or ():
        t.new(name).parse(text)
    return t
