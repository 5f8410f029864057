"""The parse tree (text/template/parse/node.go): immutable nodes, each printing itself as Go's String() does,
which is the `<...>` context of an execution error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portside.gotemplate.gostr import byte_len, quote


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """The text a tree was parsed from and the top-level name it was parsed under (Go's Tree.ParseName)."""

    parse_name: str
    text: str

    def location(self, pos: int) -> str:
        """Go's ErrorContext location "NAME:LINE:COL", COL counted in bytes from the line's start."""
        before = self.text[:pos]
        nl = before.rfind("\n")
        col = byte_len(before) if nl < 0 else byte_len(before[nl + 1:])
        return f"{self.parse_name}:{before.count(chr(10)) + 1}:{col}"


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    pos: int
    src: Source

    def __str__(self) -> str:  # pragma: no cover - every node overrides
        raise NotImplementedError


@dataclass(frozen=True, slots=True, eq=False)
class ListNode(Node):
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(frozen=True, slots=True, eq=False)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True, eq=False)
class CommentNode(Node):
    text: str

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


@dataclass(frozen=True, slots=True, eq=False)
class IdentifierNode(Node):
    ident: str

    def __str__(self) -> str:
        return self.ident


@dataclass(frozen=True, slots=True, eq=False)
class VariableNode(Node):
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(frozen=True, slots=True, eq=False)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True, eq=False)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True, eq=False)
class FieldNode(Node):
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(frozen=True, slots=True, eq=False)
class BoolNode(Node):
    true: bool

    def __str__(self) -> str:
        return "true" if self.true else "false"


@dataclass(frozen=True, slots=True, eq=False)
class NumberNode(Node):
    text: str
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int64: int = 0
    uint64: int = 0
    float64: float = 0.0
    complex128: complex = 0j

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True, eq=False)
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True, slots=True, eq=False)
class CommandNode(Node):
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass(frozen=True, slots=True, eq=False)
class PipeNode(Node):
    line: int
    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(frozen=True, slots=True, eq=False)
class ChainNode(Node):
    node: Node
    field: tuple[str, ...]

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return base + "".join("." + f for f in self.field)


@dataclass(frozen=True, slots=True, eq=False)
class ActionNode(Node):
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True, eq=False)
class BranchNode(Node):
    line: int
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None

    keyword = ""

    def __str__(self) -> str:
        tail = "{{else}}" + str(self.else_list) if self.else_list is not None else ""
        return "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list) + tail + "{{end}}"


@dataclass(frozen=True, slots=True, eq=False)
class IfNode(BranchNode):
    keyword = "if"


@dataclass(frozen=True, slots=True, eq=False)
class RangeNode(BranchNode):
    keyword = "range"


@dataclass(frozen=True, slots=True, eq=False)
class WithNode(BranchNode):
    keyword = "with"


@dataclass(frozen=True, slots=True, eq=False)
class BreakNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(frozen=True, slots=True, eq=False)
class ContinueNode(Node):
    line: int

    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(frozen=True, slots=True, eq=False)
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        tail = " " + str(self.pipe) if self.pipe is not None else ""
        return "{{template " + quote(self.name) + tail + "}}"


@dataclass(frozen=True, slots=True, eq=False)
class EndNode(Node):
    """`{{end}}`: the parser's marker, never in a tree."""

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(frozen=True, slots=True, eq=False)
class ElseNode(Node):
    """`{{else}}`: the parser's marker, never in a tree."""

    line: int

    def __str__(self) -> str:
        return "{{else}}"


def is_empty_tree(n: Any) -> bool:
    """Go's parse.IsEmptyTree: only blank text and comments (a definition that may be replaced)."""
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(c) for c in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip(_GO_SPACE) == ""
    return False


# unicode.IsSpace (bytes.TrimSpace): Python's str.strip() would also take U+001C..U+001F.
_GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
             + "\u2028\u2029\u202f\u205f\u3000")
