"""Go's fmt, upper part (fmt/print.go's doPrintf, Sprint, Sprintln): Sprint, Sprintln, Sprintf over the Python
value model.

Verbs, flags, width and precision (with `*`), argument indexes (`%[2]d`) and Go's error forms (`%!d(string=x)`,
`%!d(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`, `%!d(BADINDEX)`, `%!(BADWIDTH)`) as Go prints them.
"""

from __future__ import annotations

from typing import Any

from portside.gotemplate import values as V
from portside.gotemplate.fmtvalue import ValuePrinter

_TOO_LARGE = 1_000_000


class _Printer(ValuePrinter):
    __slots__ = ()

    def do_printf(self, fmt: str, args: tuple[Any, ...]) -> None:
        end = len(fmt)
        state = _Cursor(0, 0, False)
        self.reordered = False
        while state.i < end:
            self.good_arg_num = True
            lasti = state.i
            j = fmt.find("%", state.i)
            state.i = end if j < 0 else j
            if state.i > lasti:
                self.buf.append(fmt[lasti:state.i])
            if state.i >= end:
                break
            state.i += 1
            self.clearflags()
            if self._one_verb(fmt, args, state):
                break
        if not self.reordered and state.arg_num < len(args):
            self.clearflags()
            self.buf.append("%!(EXTRA ")
            for i, arg in enumerate(args[state.arg_num:]):
                if i > 0:
                    self.buf.append(", ")
                if arg is None or arg is V.MISSING:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(V.type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.buf.append(")")

    def _one_verb(self, fmt: str, args: tuple[Any, ...], st: _Cursor) -> bool:
        """One %-directive from fmt[st.i:] (just after the %); True when the format ended mid-directive."""
        end = len(fmt)
        if self._simple_flags(fmt, args, st):
            return False
        self._arg_number(fmt, st, len(args))
        self._width(fmt, args, st)
        if st.i + 1 < end and fmt[st.i] == ".":
            self._precision(fmt, args, st)
        if not st.after_index:
            self._arg_number(fmt, st, len(args))
        if st.i >= end:
            self.buf.append("%!(NOVERB)")
            return True
        verb = fmt[st.i]
        st.i += 1
        if verb == "%":
            self.buf.append("%")
        elif not self.good_arg_num:
            self.buf.append(f"%!{verb}(BADINDEX)")
        elif st.arg_num >= len(args):
            self.buf.append(f"%!{verb}(MISSING)")
        else:
            if verb in "vw":
                self.sharp_v, self.sharp = self.sharp, False
                self.plus_v, self.plus = self.plus, False
            self.print_arg(args[st.arg_num], verb)
            st.arg_num += 1
        return False

    def _simple_flags(self, fmt: str, args: tuple[Any, ...], st: _Cursor) -> bool:
        """Go's fast path: flags then a lower-case verb; True when it printed the verb."""
        while st.i < len(fmt):
            c = fmt[st.i]
            if c == "#":
                self.sharp = True
            elif c == "0":
                self.zero = True
            elif c == "+":
                self.plus = True
            elif c == "-":
                self.minus = True
            elif c == " ":
                self.space = True
            else:
                if "a" <= c <= "z" and st.arg_num < len(args):
                    if c in "vw":
                        self.sharp_v, self.sharp = self.sharp, False
                        self.plus_v, self.plus = self.plus, False
                    self.print_arg(args[st.arg_num], c)
                    st.arg_num += 1
                    st.i += 1
                    return True
                return False
            st.i += 1
        return False

    def _width(self, fmt: str, args: tuple[Any, ...], st: _Cursor) -> None:
        if st.i < len(fmt) and fmt[st.i] == "*":
            st.i += 1
            self.wid, self.wid_present, st.arg_num = _int_from_arg(args, st.arg_num)
            if not self.wid_present:
                self.buf.append("%!(BADWIDTH)")
            if self.wid < 0:
                self.wid = -self.wid
                self.minus = True
                self.zero = False
            st.after_index = False
        else:
            self.wid, self.wid_present, st.i = _parsenum(fmt, st.i, len(fmt))
            if st.after_index and self.wid_present:
                self.good_arg_num = False

    def _precision(self, fmt: str, args: tuple[Any, ...], st: _Cursor) -> None:
        st.i += 1
        if st.after_index:
            self.good_arg_num = False
        self._arg_number(fmt, st, len(args))
        if st.i < len(fmt) and fmt[st.i] == "*":
            st.i += 1
            self.prec, self.prec_present, st.arg_num = _int_from_arg(args, st.arg_num)
            if self.prec < 0:
                self.prec, self.prec_present = 0, False
            if not self.prec_present:
                self.buf.append("%!(BADPREC)")
            st.after_index = False
        else:
            self.prec, self.prec_present, st.i = _parsenum(fmt, st.i, len(fmt))
            if not self.prec_present:
                self.prec, self.prec_present = 0, True

    def _arg_number(self, fmt: str, st: _Cursor, num_args: int) -> None:
        if st.i >= len(fmt) or fmt[st.i] != "[":
            st.after_index = False
            return
        self.reordered = True
        index, wid, ok = _parse_arg_number(fmt[st.i:])
        if ok and 0 <= index < num_args:
            st.arg_num, st.i, st.after_index = index, st.i + wid, True
            return
        self.good_arg_num = False
        st.i += wid
        st.after_index = ok


class _Cursor:
    __slots__ = ("i", "arg_num", "after_index")

    def __init__(self, i: int, arg_num: int, after_index: bool) -> None:
        self.i, self.arg_num, self.after_index = i, arg_num, after_index


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > _TOO_LARGE or num < -_TOO_LARGE:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    if len(s) < 3:
        return 0, 1, False
    for i in range(1, len(s)):
        if s[i] == "]":
            width, ok, newi = _parsenum(s, 1, i)
            if not ok or newi != i:
                return 0, i + 1, False
            return width - 1, i + 1, True
    return 0, 1, False


def _int_from_arg(args: tuple[Any, ...], n: int) -> tuple[int, bool, int]:
    if n >= len(args):
        return 0, False, n
    a = args[n]
    ok = V.kind_of(a) in (V.INT, V.UINT) and -(1 << 63) <= int(a) < (1 << 63)
    num = int(a) if ok else 0
    if num > _TOO_LARGE or num < -_TOO_LARGE:
        num, ok = 0, False
    return num, ok, n + 1


def sprintf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf."""
    p = _Printer()
    p.do_printf(fmt, args)
    return p.result()


def sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return p.result()


def sprintln(*args: Any) -> str:
    """Go's fmt.Sprintln: spaces between all operands, and a newline."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return p.result()


def sprint_action(v: Any) -> str:
    """What an action writes for a value (Go: fmt.Fprint after printableValue, which prints what a pointer
    points to)."""
    if V.kind_of(v) == V.PTR:
        p = _Printer()
        p.arg = v
        if not p.handle_methods("v"):
            p._print_struct(v, "v", 0, V.type_name(v).lstrip("*"))
        return p.result()
    return sprint(v)
