"""The parser: items -> trees (text/template/parse/parse.go), with Go's three-token lookahead kept exactly, so a
parse error names the line Go names.

`parse(name, text, left, right, funcs)` returns every tree the text defines ({{define}}, {{block}} and the
top-level one), keyed by name. Nesting (parentheses, control structures) is bounded by what the Python stack
can hold; Go bounds parentheses at 10000.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Container
from dataclasses import dataclass

from portside.gotemplate import lex_scan as L
from portside.gotemplate import nodes as N
from portside.gotemplate.errors import ParseError
from portside.gotemplate.gostr import quote
from portside.gotemplate.lexer import Lexer
from portside.gotemplate.parse_expr import ExprParser

FRAMES_PER_LEVEL = 6
_STACK_RESERVE = 250
GO_MAX_STACK_DEPTH = 10000


@dataclass(frozen=True, slots=True, eq=False)
class Tree:
    """One parsed template: its name, body, and the text it came from."""

    name: str
    root: N.ListNode
    src: N.Source


def stack_depth() -> int:
    """How many Python frames are below the caller (cheap enough to call once per parse or execute)."""
    depth = 0
    frame = sys._getframe(1)
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def parse(name: str, text: str, left: str, right: str, funcs: Container[str]) -> dict[str, Tree]:
    """Go's parse.Parse: every tree in `text`; `funcs` holds the names the template may call."""
    tree_set: dict[str, Tree] = {}
    src = N.Source(name, text)
    lex = Lexer(text, left, right, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
    max_depth = min(GO_MAX_STACK_DEPTH,
                    max(8, (sys.getrecursionlimit() - stack_depth() - _STACK_RESERVE) // FRAMES_PER_LEVEL))
    p = _Parser(name, src, lex, tree_set, funcs, max_depth)
    try:
        p.parse_top()
    except RecursionError:
        raise ParseError(f"template: {name}:{p.token[0].line}: max expression depth exceeded") from None
    return tree_set


class _Parser(ExprParser):
    """Templates, definitions and control structures (parse.go's Tree methods above the pipeline)."""

    # ---- top level ----------------------------------------------------------------------------------------
    def sub_parser(self, name: str) -> _Parser:
        return _Parser(name, self.src, self.lex, self.tree_set, self.funcs, self.max_depth, self.depth)

    def add(self) -> None:
        assert self.root is not None
        tree = self.tree_set.get(self.name)
        if tree is None or N.is_empty_tree(tree.root):
            self.tree_set[self.name] = Tree(self.name, self.root, self.src)
            return
        if not N.is_empty_tree(self.root):
            raise self.errorf(f"template: multiple definition of template {quote(self.name)}")

    def parse_top(self) -> None:
        pos = self.peek().pos
        items: list[N.Node] = []
        while self.peek().typ != L.EOF:
            if self.peek().typ == L.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == L.DEFINE:
                    self.sub_parser("definition").parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (N.EndNode, N.ElseNode)):
                raise self.errorf(f"unexpected {n}")
            items.append(n)
        self.root = N.ListNode(pos, self.src, tuple(items))
        self.add()

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (L.STRING, L.RAW_STRING):
            raise self.unexpected(token, context)
        self.name = self._unquote(token.val)
        self.expect(L.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, N.EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[N.ListNode, N.Node]:
        pos = self.peek_non_space().pos
        items: list[N.Node] = []
        while self.peek_non_space().typ != L.EOF:
            n = self.text_or_action()
            if isinstance(n, (N.EndNode, N.ElseNode)):
                return N.ListNode(pos, self.src, tuple(items)), n
            items.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> N.Node:
        token = self.next_non_space()
        if token.typ == L.TEXT:
            return N.TextNode(token.pos, self.src, token.val)
        if token.typ == L.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ == L.COMMENT:
            return N.CommentNode(token.pos, self.src, token.val)
        raise self.unexpected(token, "input")

    def action(self) -> N.Node:
        token = self.next_non_space()
        control: dict[int, Callable[[], N.Node]] = {
            L.BLOCK: self.block_control, L.ELSE: self.else_control, L.END: self.end_control,
            L.IF: self.if_control, L.RANGE: self.range_control, L.TEMPLATE: self.template_control,
            L.WITH: self.with_control}
        if token.typ in control:
            return control[token.typ]()
        if token.typ in (L.BREAK, L.CONTINUE):
            return self.break_or_continue(token)
        self.backup()
        token = self.peek()
        return N.ActionNode(token.pos, self.src, token.line, self.pipeline("command", L.RIGHT_DELIM))

    def break_or_continue(self, keyword: L.Item) -> N.Node:
        word = "{{" + keyword.val + "}}"
        token = self.next_non_space()
        if token.typ != L.RIGHT_DELIM:
            raise self.unexpected(token, word)
        if self.range_depth == 0:
            raise self.errorf(f"{word} outside {{{{range}}}}")
        cls = N.BreakNode if keyword.typ == L.BREAK else N.ContinueNode
        return cls(keyword.pos, self.src, keyword.line)

    # ---- control structures ------------------------------------------------------------------------------
    def parse_control(self, context: str) -> tuple[int, int, N.PipeNode, N.ListNode, N.ListNode | None]:
        mark = len(self.vars)
        self.nest()
        try:
            pipe = self.pipeline(context, L.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: N.ListNode | None = None
            if isinstance(nxt, N.ElseNode):
                else_list = self.else_branch(context, nxt)
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[mark:]
            self.depth -= 1

    def else_branch(self, context: str, else_node: N.ElseNode) -> N.ListNode:
        if context == "if" and self.peek().typ == L.IF:
            self.next()
            return N.ListNode(else_node.pos, self.src, (self.if_control(),))
        if context == "with" and self.peek().typ == L.WITH:
            self.next()
            return N.ListNode(else_node.pos, self.src, (self.with_control(),))
        else_list, nxt = self.item_list()
        if not isinstance(nxt, N.EndNode):
            raise self.errorf(f"expected end; found {nxt}")
        return else_list

    def if_control(self) -> N.Node:
        return N.IfNode(*self._branch("if"))

    def range_control(self) -> N.Node:
        return N.RangeNode(*self._branch("range"))

    def with_control(self) -> N.Node:
        return N.WithNode(*self._branch("with"))

    def _branch(self, context: str) -> tuple[int, N.Source, int, N.PipeNode, N.ListNode, N.ListNode | None]:
        pos, line, pipe, lst, else_list = self.parse_control(context)
        return pos, self.src, line, pipe, lst, else_list

    def end_control(self) -> N.Node:
        return N.EndNode(self.expect(L.RIGHT_DELIM, "end").pos, self.src)

    def else_control(self) -> N.Node:
        peek = self.peek_non_space()
        if peek.typ in (L.IF, L.WITH):
            return N.ElseNode(peek.pos, self.src, peek.line)
        token = self.expect(L.RIGHT_DELIM, "else")
        return N.ElseNode(token.pos, self.src, token.line)

    def block_control(self) -> N.Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, L.RIGHT_DELIM)
        self.nest()
        block = self.sub_parser(name)
        block.root, end = block.item_list()
        if not isinstance(end, N.EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        block.add()
        self.depth -= 1
        return N.TemplateNode(token.pos, self.src, token.line, name, pipe)

    def template_control(self) -> N.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().typ != L.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, L.RIGHT_DELIM)
        return N.TemplateNode(token.pos, self.src, token.line, name, pipe)

    def template_name(self, token: L.Item, context: str) -> str:
        if token.typ in (L.STRING, L.RAW_STRING):
            return self._unquote(token.val)
        raise self.unexpected(token, context)

