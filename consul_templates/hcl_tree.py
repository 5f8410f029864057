"""HCL text -> plain values with HCL v1 semantics, on python-hcl2's parser.

consul-template reads its configuration with HCL v1. The Python parsers at hand both get part of it wrong for
consul-template files: pyhcl (HCL1) merges two `template {}` blocks whose keys differ into one block, and
python-hcl2 (HCL2) turns `perms = 0600` into 600, drops the newline that ends a heredoc and gives no line
per key. So python-hcl2's lark grammar parses (syntax errors with line and column), and this module walks
its tree itself, taking each literal from its source text the way HCL v1 decodes it:

- numbers with a leading 0 are octal (`0600` == 0o600), `0x` hex, as Go's ParseInt(text, 0, 64);
- strings are unquoted with Go escapes; `${...}` stays literal text (HCL1 does not evaluate it);
- `<<EOF` heredocs end with their last newline, `<<-EOF` removes the closing marker's indentation;
- every block is a list of mappings (one per occurrence), each mapping remembering the line of each key.
"""

from __future__ import annotations

import re
from typing import Any

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput


class HclError(ValueError):
    """Not valid HCL; the message names the line (and column when known)."""


class Mapping(dict[str, Any]):
    """An HCL body or object: remembers its own line and each key's line."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines = {}


class Block(list[Any]):
    """The occurrences of one block name (`template {}` twice -> a Block of two Mappings)."""


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\", '"': '"',
            "'": "'"}
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|([0-7]{3})|(.))", re.S)


def unquote(body: str, line: int) -> str:
    """The text between the quotes of an HCL1 string, with Go's escapes resolved."""

    def one(m: re.Match[str]) -> str:
        hex4, hex8, hex2, octal, char = m.groups()
        if hex4 or hex8 or hex2:
            return chr(int(hex4 or hex8 or hex2, 16))
        if octal:
            return chr(int(octal, 8))
        if char in _ESCAPES:
            return _ESCAPES[char]
        raise HclError(f"line {line}: unknown escape sequence \\{char} in a string")

    return _ESCAPE.sub(one, body)


def heredoc(text: str) -> str:
    """HCL v1's heredoc value: the lines between the markers, with the final newline; `<<-` unindents."""
    if not text.endswith("\n"):
        text += "\n"
    idx = text.index("\n")
    marker_len = idx  # "<<EOF" or "<<-EOF"
    if text[2] != "-":
        return text[idx + 1: len(text) - marker_len + 1]
    lines = text[idx + 1: len(text) - marker_len + 2].split("\n")
    prefix = lines[-1]
    if not all(line.startswith(prefix) for line in lines):
        return text[idx + 1: len(text) - marker_len + 1].rstrip(" \t")
    return "\n".join([line[len(prefix):] for line in lines[:-1]] + [""])


def parse(source: str) -> Mapping:
    """Parse HCL text into Mappings, Blocks and plain values."""
    try:
        tree = hcl2.parses_to_tree(source)
    except UnexpectedInput as exc:
        raise HclError(f"line {exc.line}, column {exc.column}: invalid HCL") from None
    except LarkError as exc:
        raise HclError(f"invalid HCL: {exc}") from None
    return _Walker(source).body(tree.children[0], 1)


class _Walker:
    def __init__(self, source: str) -> None:
        self.source = source

    def body(self, node: Tree, line: int) -> Mapping:
        out = Mapping(line)
        for child in node.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "attribute":
                name, value = self.key(child.children[0]), self.value(child.children[-1])
                self.put(out, name, value, _line(child))
            elif child.data == "block":
                self.block(out, child)
        return out

    def block(self, out: Mapping, node: Tree) -> None:
        parts = [c for c in node.children if isinstance(c, Tree)]
        name = self.key(parts[0])
        labels = [self.key(p) for p in parts[1:-1]]
        target = out
        for label in [name, *labels][:-1]:  # `a "b" {}` nests as a = [{ b = [...] }], as HCL1 decodes it
            existing = target.get(label)
            if not isinstance(existing, Block):
                existing = Block([Mapping(_line(node))])
                self.put(target, label, existing, _line(node))
            target = existing[-1]
        last = [name, *labels][-1]
        body = self.body(parts[-1], _line(node)) if parts[-1].data == "body" else Mapping(_line(node))
        existing = target.get(last)
        if isinstance(existing, Block):
            existing.append(body)
        else:
            self.put(target, last, Block([body]), _line(node))

    @staticmethod
    def put(out: Mapping, key: str, value: Any, line: int) -> None:
        if key in out and not isinstance(value, Block):
            raise HclError(f"line {line}: key {key!r} is set twice")
        out[key] = value
        out.key_lines[key] = line

    def key(self, node: Any) -> str:
        if isinstance(node, Tree) and node.data in ("identifier", "expr_term", "object_elem_key"):
            return self.key(node.children[0])
        if isinstance(node, Tree) and node.data == "string":
            return str(self.value(node))
        return str(node)

    def value(self, node: Any) -> Any:  # noqa: C901 - one branch per literal kind of the grammar
        if isinstance(node, Token):
            return str(node)
        kind = node.data
        if kind == "expr_term":
            inner = [c for c in node.children if isinstance(c, Tree) or c.type not in ("LPAR", "RPAR")]
            return self.value(inner[0])
        if kind == "string":
            quotes = [c for c in node.children if isinstance(c, Token) and c.type == "DBLQUOTE"]
            return unquote(self.source[quotes[0].end_pos:quotes[-1].start_pos], int(quotes[0].line or 0))
        if kind == "int_lit":
            return int(str(node.children[0]).replace("_", ""), 0) if _not_decimal_zero(node) else int(
                str(node.children[0]), 8)
        if kind == "float_lit":
            return float(str(node.children[0]))
        if kind in ("heredoc_template", "heredoc_template_trim"):
            return heredoc(str(node.children[0]))
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}.get(str(node.children[0]), str(node.children[0]))
        if kind == "identifier":
            return str(node.children[0])
        if kind == "unary_op":
            sign = str(node.children[0])
            number = self.value(node.children[1])
            return -number if sign == "-" else number
        if kind == "tuple":
            return [self.value(c) for c in node.children if isinstance(c, Tree)]
        if kind == "object":
            out = Mapping(_line(node))
            for elem in (c for c in node.children if isinstance(c, Tree) and c.data == "object_elem"):
                parts = [c for c in elem.children if isinstance(c, Tree)]
                self.put(out, self.key(parts[0]), self.value(parts[-1]), _line(elem))
            return out
        raise HclError(f"line {_line(node)}: unsupported expression ({kind}); consul-template's HCL has only literals")


def _not_decimal_zero(node: Tree) -> bool:
    """False for a leading-0 number (octal in HCL1); `0` itself and `0x..` go through int(text, 0)."""
    text = str(node.children[0])
    return not (len(text) > 1 and text[0] == "0" and text[1].isdigit())


def _line(node: Tree) -> int:
    meta = node.meta
    if not meta.empty:
        return int(meta.line)
    for token in node.scan_values(lambda t: isinstance(t, Token)):
        return int(token.line)
    return 0
