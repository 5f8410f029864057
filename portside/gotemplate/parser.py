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

from portside.gotemplate import lexer as L
from portside.gotemplate import nodes as N
from portside.gotemplate.errors import ParseError
from portside.gotemplate.gostr import SyntaxErr, quote, unquote
from portside.gotemplate.literals import new_number

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
    lex = L.Lexer(text, left, right, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
    max_depth = min(GO_MAX_STACK_DEPTH,
                    max(8, (sys.getrecursionlimit() - stack_depth() - _STACK_RESERVE) // FRAMES_PER_LEVEL))
    p = _Parser(name, src, lex, tree_set, funcs, max_depth)
    try:
        p.parse_top()
    except RecursionError:
        raise ParseError(f"template: {name}:{p.token[0].line}: max expression depth exceeded") from None
    return tree_set


class _Parser:
    def __init__(self, name: str, src: N.Source, lex: L.Lexer, tree_set: dict[str, Tree], funcs: Container[str],
                 max_depth: int, depth: int = 0) -> None:
        self.name = name
        self.src = src
        self.lex = lex
        self.tree_set = tree_set
        self.funcs = funcs
        self.token: list[L.Item] = [L.Item(L.EOF, 0, "", 0)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.depth = depth
        self.max_depth = max_depth
        self.root: N.ListNode | None = None

    # ---- token buffer (Go's next/backup/peek) ----------------------------------------------------------
    def next(self) -> L.Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: L.Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: L.Item, t1: L.Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> L.Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> L.Item:
        while True:
            token = self.next()
            if token.typ != L.SPACE:
                return token

    def peek_non_space(self) -> L.Item:
        token = self.next_non_space()
        self.backup()
        return token

    # ---- errors -------------------------------------------------------------------------------------------
    def errorf(self, msg: str) -> ParseError:
        return ParseError(f"template: {self.src.parse_name}:{self.token[0].line}: {msg}")

    def expect(self, expected: int, context: str) -> L.Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: L.Item, context: str) -> ParseError:
        if token.typ == L.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.src.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.errorf("max nesting depth exceeded")

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

    def _unquote(self, lit: str) -> str:
        try:
            return unquote(lit)
        except SyntaxErr as e:
            raise self.errorf(str(e)) from None

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

    # ---- pipelines ---------------------------------------------------------------------------------------
    def pipeline(self, context: str, end: int) -> N.PipeNode:
        token = self.peek_non_space()
        decl, is_assign = self.declarations(context)
        cmds: list[N.CommandNode] = []
        while True:
            token2 = self.next_non_space()
            if token2.typ == end:
                self.check_pipeline(cmds, context)
                return N.PipeNode(token.pos, self.src, token.line, is_assign, tuple(decl), tuple(cmds))
            if token2.typ in _OPERAND_START:
                self.backup()
                cmds.append(self.command())
            else:
                raise self.unexpected(token2, context)

    def declarations(self, context: str) -> tuple[list[N.VariableNode], bool]:
        decl: list[N.VariableNode] = []
        is_assign = False
        while True:
            v = self.peek_non_space()
            if v.typ != L.VARIABLE:
                return decl, is_assign
            self.next()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (L.ASSIGN, L.DECLARE):
                is_assign = nxt.typ == L.ASSIGN
                self.next_non_space()
                decl.append(self.new_variable(v.pos, v.val))
                self.vars.append(v.val)
                return decl, is_assign
            if nxt.typ == L.CHAR and nxt.val == ",":
                self.next_non_space()
                decl.append(self.new_variable(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().typ in (L.VARIABLE, L.RIGHT_DELIM, L.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            if after.typ == L.SPACE:
                self.backup3(v, after)
            else:
                self.backup2(v)
            return decl, is_assign

    def check_pipeline(self, cmds: list[N.CommandNode], context: str) -> None:
        if not cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(cmds[1:]):
            if isinstance(c.args[0], (N.BoolNode, N.DotNode, N.NilNode, N.NumberNode, N.StringNode)):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> N.CommandNode:
        pos = self.peek_non_space().pos
        args: list[N.Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.typ == L.SPACE:
                continue
            if token.typ in (L.RIGHT_DELIM, L.RIGHT_PAREN):
                self.backup()
            elif token.typ != L.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.errorf("empty command")
        return N.CommandNode(pos, self.src, tuple(args))

    def operand(self) -> N.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == L.FIELD:
            pos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ == L.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, N.FieldNode):
                return N.FieldNode(pos, self.src, node.ident + tuple(fields))
            if isinstance(node, N.VariableNode):
                return N.VariableNode(pos, self.src, node.ident + tuple(fields))
            if isinstance(node, (N.BoolNode, N.StringNode, N.NumberNode, N.NilNode, N.DotNode)):
                raise self.errorf(f"unexpected . after term {quote(str(node))}")
            return N.ChainNode(pos, self.src, node, tuple(fields))
        return node

    def term(self) -> N.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == L.IDENTIFIER:
            if token.val not in self.funcs:
                raise self.errorf(f"function {quote(token.val)} not defined")
            return N.IdentifierNode(token.pos, self.src, token.val)
        if typ == L.DOT:
            return N.DotNode(token.pos, self.src)
        if typ == L.NIL:
            return N.NilNode(token.pos, self.src)
        if typ == L.VARIABLE:
            return self.use_var(token.pos, token.val)
        if typ == L.FIELD:
            return N.FieldNode(token.pos, self.src, tuple(token.val[1:].split(".")))
        if typ == L.BOOL:
            return N.BoolNode(token.pos, self.src, token.val == "true")
        if typ in (L.CHAR_CONSTANT, L.COMPLEX, L.NUMBER):
            try:
                return new_number(token.pos, self.src, token.val, typ == L.CHAR_CONSTANT, typ == L.COMPLEX)
            except ValueError as e:
                raise self.errorf(str(e)) from None
        if typ == L.LEFT_PAREN:
            return self.paren_pipeline()
        if typ in (L.STRING, L.RAW_STRING):
            return N.StringNode(token.pos, self.src, token.val, self._unquote(token.val))
        self.backup()
        return None

    def paren_pipeline(self) -> N.PipeNode:
        if self.depth >= self.max_depth:
            raise self.errorf("max expression depth exceeded")
        self.depth += 1
        try:
            return self.pipeline("parenthesized pipeline", L.RIGHT_PAREN)
        finally:
            self.depth -= 1

    def new_variable(self, pos: int, ident: str) -> N.VariableNode:
        return N.VariableNode(pos, self.src, tuple(ident.split(".")))

    def use_var(self, pos: int, name: str) -> N.VariableNode:
        v = self.new_variable(pos, name)
        if v.ident[0] not in self.vars:
            raise self.errorf(f"undefined variable {quote(v.ident[0])}")
        return v

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


_OPERAND_START = frozenset({L.BOOL, L.CHAR_CONSTANT, L.COMPLEX, L.DOT, L.FIELD, L.IDENTIFIER, L.NUMBER, L.NIL,
                            L.RAW_STRING, L.STRING, L.VARIABLE, L.LEFT_PAREN})
