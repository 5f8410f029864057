"""The lexer: template text -> items, Go's state machine (text/template/parse/lex.go) step for step.

Positions are indexes into the Python string (code points); the parser turns them into Go's byte columns only
when an error needs one. Items come one at a time, on demand, as Go's parser pulls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from portside.gotemplate.gostr import byte_len, is_print, quote

(ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF, FIELD, IDENTIFIER, LEFT_DELIM,
 LEFT_PAREN, NUMBER, PIPE, RAW_STRING, RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, TEXT, VARIABLE, KEYWORD,
 BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, TEMPLATE, WITH) = range(35)

KEYWORDS = {".": DOT, "block": BLOCK, "break": BREAK, "continue": CONTINUE, "define": DEFINE, "else": ELSE,
            "end": END, "if": IF, "range": RANGE, "nil": NIL, "template": TEMPLATE, "with": WITH}

SPACE_CHARS = " \t\r\n"
TRIM_MARKER_LEN = 2
LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"


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
    return c == "_" or c.isalpha() or c.isdecimal()


def _u_sharp(c: str) -> str:
    """fmt's %#U of a rune: U+0021 '!'."""
    r = ord(c)
    return f"U+{r:04X} '{c}'" if is_print(r) else f"U+{r:04X}"


State = Callable[[], "State | None"]


class Lexer:
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

    # ---- primitives -----------------------------------------------------------------------------------
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

    def next_item(self) -> Item:
        self.item = Item(EOF, self.pos, "EOF", self.start_line)
        state: State | None = self.lex_inside_action if self.inside_action else self.lex_text
        while state is not None:
            state = state()
        return self.item

    # ---- text and delimiters --------------------------------------------------------------------------
    def lex_text(self) -> State | None:
        x = self.input.find(self.left, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                if _has_left_trim(self.input, x + len(self.left)):
                    seg = self.input[self.start:self.pos]
                    trim = len(seg) - len(seg.rstrip(SPACE_CHARS))
                self.pos -= trim
                self.line += self.input.count("\n", self.start, self.pos)
                i = self.this_item(TEXT)
                self.pos += trim
                self.ignore()
                if i.val:
                    self.item = i
                    return None
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(TEXT)
            return None
        self.emit(EOF)
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        s, p = self.input, self.pos
        if _has_right_trim(s, p) and s.startswith(self.right, p + TRIM_MARKER_LEN):
            return True, True
        return s.startswith(self.right, p), False

    def lex_left_delim(self) -> State | None:
        self.pos += len(self.left)
        trim = _has_left_trim(self.input, self.pos)
        after = TRIM_MARKER_LEN if trim else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        i = self.this_item(LEFT_DELIM)
        self.inside_action = True
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        self.item = i
        return None

    def lex_comment(self) -> State | None:
        self.pos += len(LEFT_COMMENT)
        x = self.input.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            self.errorf("unclosed comment")
            return None
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            self.errorf("comment ends before closing delimiter")
            return None
        self.line += self.input.count("\n", self.start, self.pos)
        self.this_item(COMMENT)
        if trim:
            self.pos += TRIM_MARKER_LEN
        self.pos += len(self.right)
        if trim:
            self.pos += _left_trim_len(self.input, self.pos)
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> State | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += TRIM_MARKER_LEN
            self.ignore()
        self.pos += len(self.right)
        i = self.this_item(RIGHT_DELIM)
        if trim:
            self.pos += _left_trim_len(self.input, self.pos)
            self.ignore()
        self.inside_action = False
        self.item = i
        return None

    # ---- inside an action -----------------------------------------------------------------------------
    def lex_inside_action(self) -> State | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.errorf("unclosed left paren")
            return None
        c = self.next()
        if c == "":
            self.errorf("unclosed action")
            return None
        if is_space(c):
            self.backup()
            return self.lex_space
        simple = {"=": ASSIGN, "|": PIPE}.get(c)
        if simple is not None:
            self.emit(simple)
            return None
        if c == ":":
            if self.next() != "=":
                self.errorf("expected :=")
                return None
            self.emit(DECLARE)
            return None
        quoted = {'"': self.lex_quote, "`": self.lex_raw_quote, "$": self.lex_variable, "'": self.lex_char}
        if c in quoted:
            return quoted[c]
        return self._lex_action_rest(c)

    def _lex_action_rest(self, c: str) -> State | None:
        if c == ".":
            if self.pos < len(self.input):
                r = self.input[self.pos]
                if r < "0" or r > "9":
                    return self.lex_field
        if c == "." or c in "+-" or "0" <= c <= "9":
            self.backup()
            return self.lex_number
        if is_alnum(c):
            self.backup()
            return self.lex_identifier
        if c == "(":
            self.paren_depth += 1
            self.emit(LEFT_PAREN)
            return None
        if c == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.errorf("unexpected right paren")
                return None
            self.emit(RIGHT_PAREN)
            return None
        if ord(c) < 0x80 and is_print(ord(c)):
            self.emit(CHAR)
            return None
        self.errorf(f"unrecognized character in action: {_u_sharp(c)}")
        return None

    def lex_space(self) -> State | None:
        num = 0
        while is_space(self.peek()):
            self.next()
            num += 1
        if _has_right_trim(self.input, self.pos - 1) and self.input.startswith(
                self.right, self.pos - 1 + TRIM_MARKER_LEN):
            self.backup()
            if num == 1:
                return self.lex_right_delim
        self.emit(SPACE)
        return None

    def lex_identifier(self) -> State | None:
        while True:
            c = self.next()
            if is_alnum(c):
                continue
            self.backup()
            word = self.input[self.start:self.pos]
            if not self.at_terminator():
                self.errorf(f"bad character {_u_sharp(c)}")
                return None
            typ = KEYWORDS.get(word, 0)
            if typ > KEYWORD:
                if (typ == BREAK and not self.break_ok) or (typ == CONTINUE and not self.continue_ok):
                    self.emit(IDENTIFIER)
                else:
                    self.emit(typ)
            elif word[0] == ".":
                self.emit(FIELD)
            elif word in ("true", "false"):
                self.emit(BOOL)
            else:
                self.emit(IDENTIFIER)
            return None

    def lex_field(self) -> State | None:
        return self._field_or_variable(FIELD)

    def lex_variable(self) -> State | None:
        if self.at_terminator():
            self.emit(VARIABLE)
            return None
        return self._field_or_variable(VARIABLE)

    def _field_or_variable(self, typ: int) -> State | None:
        if self.at_terminator():
            self.emit(VARIABLE if typ == VARIABLE else DOT)
            return None
        while True:
            c = self.next()
            if not is_alnum(c):
                self.backup()
                break
        if not self.at_terminator():
            self.errorf(f"bad character {_u_sharp(c)}")
            return None
        self.emit(typ)
        return None

    def at_terminator(self) -> bool:
        c = self.peek()
        if c == "" or is_space(c) or c in ".,|:)(":
            return True
        return self.input.startswith(self.right, self.pos)

    def _lex_quoted(self, quote_char: str, what: str, typ: int) -> State | None:
        while True:
            c = self.next()
            if c == "\\":
                c = self.next()
                if c != "" and c != "\n":
                    continue
                self.errorf(f"unterminated {what}")
                return None
            if c == "" or c == "\n":
                self.errorf(f"unterminated {what}")
                return None
            if c == quote_char:
                break
        self.emit(typ)
        return None

    def lex_char(self) -> State | None:
        return self._lex_quoted("'", "character constant", CHAR_CONSTANT)

    def lex_quote(self) -> State | None:
        return self._lex_quoted('"', "quoted string", STRING)

    def lex_raw_quote(self) -> State | None:
        x = self.input.find("`", self.pos)
        if x < 0:
            self.pos = len(self.input)
            self.errorf("unterminated raw quoted string")
            return None
        self.line += self.input.count("\n", self.pos, x + 1)
        self.pos = x + 1
        self.emit(RAW_STRING)
        return None

    def lex_number(self) -> State | None:
        if not self.scan_number():
            self.errorf(f"bad number syntax: {quote(self.input[self.start:self.pos])}")
            return None
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                self.errorf(f"bad number syntax: {quote(self.input[self.start:self.pos])}")
                return None
            self.emit(COMPLEX)
            return None
        self.emit(NUMBER)
        return None

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if is_alnum(self.peek()) and self.peek() != "":
            self.next()
            return False
        return True


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and s[i + 1] in SPACE_CHARS


def _has_right_trim(s: str, i: int) -> bool:
    return i >= 0 and len(s) >= i + 2 and s[i] in SPACE_CHARS and s[i + 1] == "-"


def _left_trim_len(s: str, i: int) -> int:
    j = i
    while j < len(s) and s[j] in SPACE_CHARS:
        j += 1
    return j - i
