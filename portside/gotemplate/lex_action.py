"""The lexer's states inside an action (text/template/parse/lex.go, lexInsideAction and what it calls)."""

from __future__ import annotations

from portside.gotemplate.gostr import is_print, quote
from portside.gotemplate.lex_scan import (
    ASSIGN,
    BOOL,
    BREAK,
    CHAR,
    CHAR_CONSTANT,
    COMPLEX,
    CONTINUE,
    DECLARE,
    DOT,
    FIELD,
    IDENTIFIER,
    KEYWORD,
    KEYWORDS,
    LEFT_PAREN,
    NUMBER,
    PIPE,
    RAW_STRING,
    RIGHT_DELIM,
    RIGHT_PAREN,
    SPACE,
    STRING,
    TRIM_MARKER_LEN,
    VARIABLE,
    Scanner,
    State,
    has_right_trim,
    is_alnum,
    is_space,
    left_trim_len,
    u_sharp,
)


class ActionStates(Scanner):
    """Identifiers, fields, variables, strings, numbers, spaces and punctuation between the delimiters."""

    def lex_right_delim(self) -> State | None:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += TRIM_MARKER_LEN
            self.ignore()
        self.pos += len(self.right)
        i = self.this_item(RIGHT_DELIM)
        if trim:
            self.pos += left_trim_len(self.input, self.pos)
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
        self.errorf(f"unrecognized character in action: {u_sharp(c)}")
        return None

    def lex_space(self) -> State | None:
        num = 0
        while is_space(self.peek()):
            self.next()
            num += 1
        if has_right_trim(self.input, self.pos - 1) and self.input.startswith(
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
                self.errorf(f"bad character {u_sharp(c)}")
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
            self.errorf(f"bad character {u_sharp(c)}")
            return None
        self.emit(typ)
        return None

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
