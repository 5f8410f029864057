"""The parser's lower half: the token buffer with Go's three-token lookahead, parse errors worded and located as
Go's, and pipelines down to operands (text/template/parse/parse.go, pipeline ... term)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from portside.gotemplate import lex_scan as L
from portside.gotemplate import nodes as N
from portside.gotemplate.errors import ParseError
from portside.gotemplate.gostr import SyntaxErr, quote, unquote
from portside.gotemplate.literals import new_number

if TYPE_CHECKING:
    from portside.gotemplate.lexer import Lexer
    from portside.gotemplate.parser import Tree


_OPERAND_START = frozenset({L.BOOL, L.CHAR_CONSTANT, L.COMPLEX, L.DOT, L.FIELD, L.IDENTIFIER, L.NUMBER, L.NIL,
                            L.RAW_STRING, L.STRING, L.VARIABLE, L.LEFT_PAREN})


class ExprParser:
    """Parser state shared by a text and the definitions in it, and the pipeline grammar."""

    def __init__(self, name: str, src: N.Source, lex: Lexer, tree_set: dict[str, Tree], funcs: Container[str],
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

    def _unquote(self, lit: str) -> str:
        try:
            return unquote(lit)
        except SyntaxErr as e:
            raise self.errorf(str(e)) from None

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
