"""The lexer: template text -> items, Go's state machine (text/template/parse/lex.go) step for step.

Positions are indexes into the Python string (code points); the parser turns them into Go's byte columns only
when an error needs one. Items come one at a time, on demand, as Go's parser pulls them. The states inside an
action are in lex_action.py, the item types and scanner primitives in lex_scan.py.
"""

from __future__ import annotations

from portside.gotemplate.lex_action import ActionStates
from portside.gotemplate.lex_scan import (
    COMMENT,
    EOF,
    LEFT_DELIM,
    SPACE_CHARS,
    TEXT,
    TRIM_MARKER_LEN,
    Item,
    State,
    has_left_trim,
    left_trim_len,
)

LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"


class Lexer(ActionStates):
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
                if has_left_trim(self.input, x + len(self.left)):
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

    def lex_left_delim(self) -> State | None:
        self.pos += len(self.left)
        trim = has_left_trim(self.input, self.pos)
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
            self.pos += left_trim_len(self.input, self.pos)
        self.ignore()
        return self.lex_text
