"""The lexer's ground: item types, items, and the scanner primitives both groups of lexer states use
(text/template/parse/lex.go)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from portside.gotemplate.gostr import byte_len, is_ident_char, is_print, quote

(ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF, FIELD, IDENTIFIER, LEFT_DELIM,
 LEFT_PAREN, NUMBER, PIPE, RAW_STRING, RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, TEXT, VARIABLE, KEYWORD,
 BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, TEMPLATE, WITH) = range(35)

KEYWORDS = {".": DOT, "block": BLOCK, "break": BREAK, "continue": CONTINUE, "define": DEFINE, "else": ELSE,
            "end": END, "if": IF, "range": RANGE, "nil": NIL, "template": TEMPLATE, "with": WITH}

SPACE_CHARS = " \t\r\n"
TRIM_MARKER_LEN = 2


class Item(NamedTuple):
    typ: int
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """Go's item.String(), used in parse errors."""
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return f"<{self.val}>"
        if byte_len(self.val) > 10:
            return quote(self.val[:10]) + "..."
        return quote(self.val)


def is_space(c: str) -> bool:
    return c in SPACE_CHARS and c != ""


def is_alnum(c: str) -> bool:
    return is_ident_char(c)


def u_sharp(c: str) -> str:
    """fmt's %#U of a rune: U+0021 '!'."""
    r = ord(c)
    return f"U+{r:04X} '{c}'" if is_print(r) else f"U+{r:04X}"


State = Callable[[], "State | None"]



class Scanner:
    """Position, line accounting and the item being built; Go's lexer fields and small methods."""

    def __init__(self, text: str, left: str = "", right: str = "", *, break_ok: bool = True,
                 continue_ok: bool = True) -> None:
        self.input = text
        self.left = left or "{{"
        self.right = right or "}}"
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.item = Item(EOF, 0, "EOF", 1)
        self.inside_action = False
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return ""
        c = self.input[self.pos]
        self.pos += 1
        if c == "\n":
            self.line += 1
        return c

    def peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, typ: int) -> Item:
        i = Item(typ, self.start, self.input[self.start:self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return i

    def emit(self, typ: int) -> None:
        self.item = self.this_item(typ)

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        c = self.next()
        if c and c in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            c = self.next()
            if not c or c not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> None:
        self.item = Item(ERROR, self.start, msg, self.start_line)
        self.start = self.pos = 0
        self.input = ""

    def at_right_delim(self) -> tuple[bool, bool]:
        s, p = self.input, self.pos
        if has_right_trim(s, p) and s.startswith(self.right, p + TRIM_MARKER_LEN):
            return True, True
        return s.startswith(self.right, p), False

    def at_terminator(self) -> bool:
        c = self.peek()
        if c == "" or is_space(c) or c in ".,|:)(":
            return True
        return self.input.startswith(self.right, self.pos)


def has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and s[i + 1] in SPACE_CHARS


def has_right_trim(s: str, i: int) -> bool:
    return i >= 0 and len(s) >= i + 2 and s[i] in SPACE_CHARS and s[i + 1] == "-"


def left_trim_len(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] in SPACE_CHARS:
        j += 1
    return j - i
