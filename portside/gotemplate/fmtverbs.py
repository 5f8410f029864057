"""Go's fmt, lower half (fmt/format.go): flags, width, precision, padding, and the formatting of one integer,
float, string or rune. The printer (gofmt.py) decides which of these a value and verb call for."""

from __future__ import annotations

from portside.gotemplate.gonum import format_float
from portside.gotemplate.gostr import (
    MAX_RUNE,
    RUNE_ERROR,
    can_backquote,
    encode_rune,
    go_bytes,
    is_print,
    quote,
    quote_rune,
)

LDIGITS = "0123456789abcdefx"
UDIGITS = "0123456789ABCDEFX"


class Fmt:
    """Go's `fmt` struct: the flags of the verb being printed and the output buffer."""

    __slots__ = ("buf", "wid", "prec", "wid_present", "prec_present", "minus", "plus", "sharp", "space", "zero",
                 "plus_v", "sharp_v")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.clearflags()

    def clearflags(self) -> None:
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero and not self.minus else " ") * n)

    def pad(self, s: str) -> None:
        """Write s padded to the width (counted in runes); left or right as the '-' flag says."""
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if not self.minus:
            self.write_padding(width)
            self.buf.append(s)
        else:
            self.buf.append(s)
            self.write_padding(width)

    def _pad_unzeroed(self, s: str) -> None:
        old = self.zero
        self.zero = False
        self.pad(s)
        self.zero = old

    def fmt_boolean(self, v: bool) -> None:
        self.pad("true" if v else "false")

    def fmt_unicode(self, u: int) -> None:
        u &= (1 << 64) - 1
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        s = f"U+{u:0{prec}X}"
        if self.sharp and 0 <= u <= MAX_RUNE and is_print(u):
            s += " '" + chr(u) + "'"
        self._pad_unzeroed(s)

    def fmt_integer(self, u: int, base: int, signed: bool, verb: str, digits: str) -> None:
        """Go's fmtInteger; u is the value (negative only when signed)."""
        negative = signed and u < 0
        if negative:
            u = -u
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                old = self.zero
                self.zero = False
                self.write_padding(self.wid)
                self.zero = old
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            body = str(u)
        elif base == 16:
            body = format(u, "x")
            if digits is UDIGITS:
                body = body.upper()
        else:
            body = format(u, "o" if base == 8 else "b")
        if len(body) < prec:
            body = "0" * (prec - len(body)) + body
        if self.sharp:
            if base == 2:
                body = "0b" + body
            elif base == 8 and body[0] != "0":
                body = "0" + body
            elif base == 16:
                body = "0" + digits[16] + body
        if verb == "O":
            body = "0o" + body
        if negative:
            body = "-" + body
        elif self.plus:
            body = "+" + body
        elif self.space:
            body = " " + body
        self._pad_unzeroed(body)

    def truncate(self, s: str) -> str:
        if self.prec_present and self.prec < len(s):
            return s[:self.prec]
        return s

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate(s))

    def fmt_sbx(self, s: str, digits: str) -> None:
        """%x / %X of a string: two hex digits per byte, "% x" spaced, "%#x" with 0x."""
        b = go_bytes(s)
        length = len(b)
        if self.prec_present and self.prec < length:
            length = self.prec
        width = 2 * length
        if width > 0:
            if self.space:
                if self.sharp:
                    width *= 2
                width += length - 1
            elif self.sharp:
                width += 2
        else:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        out = []
        if self.sharp:
            out.append("0" + digits[16])
        for i in range(length):
            if self.space and i > 0:
                out.append(" ")
                if self.sharp:
                    out.append("0" + digits[16])
            c = b[i]
            out.append(digits[c >> 4] + digits[c & 0xF])
        self.buf.append("".join(out))
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and can_backquote(s):
            self.pad("`" + s + "`")
            return
        self.pad(quote(s, ascii_only=self.plus))

    def fmt_c(self, c: int) -> None:
        self.pad(encode_rune(c if 0 <= c <= MAX_RUNE else RUNE_ERROR))

    def fmt_qc(self, c: int) -> None:
        self.pad(quote_rune(c if 0 <= c <= MAX_RUNE else RUNE_ERROR, ascii_only=self.plus))

    def fmt_float(self, v: float, verb: str, prec: int) -> None:
        """Go's fmt.fmtFloat: strconv's digits, then sign, '#', and zero padding after the sign."""
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        num = num if num[0] in "+-" else "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self._pad_unzeroed(num)
            return
        if self.sharp and verb != "b":
            num = _sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(self.wid - len(num))
                self.buf.append(num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])


def _sharp_float(num: str, verb: str, prec: int) -> str:
    """'#' on a float: always a decimal point; %#g and %#v keep trailing zeros up to the precision."""
    digits = 0
    if verb in "vgGx":
        digits = 6 if prec == -1 else prec
    tail = ""
    has_point = saw_nonzero = False
    i = 1
    while i < len(num):
        c = num[i]
        if c == ".":
            has_point = True
        elif c in "pP" or (c in "eE" and verb not in "xX"):
            tail = num[i:]
            num = num[:i]
            break
        else:
            if c != "0":
                saw_nonzero = True
            if saw_nonzero:
                digits -= 1
        i += 1
    if not has_point:
        if len(num) == 2 and num[1] == "0":
            digits -= 1
        num += "."
    if digits > 0:
        num += "0" * digits
    return num + tail
