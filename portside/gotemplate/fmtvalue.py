"""Go's fmt, middle part (fmt/print.go's printArg and printValue): one value printed for one verb, over the
Python value model. Struct objects with a `String()`/`Error()` method print through it, as Go's Stringer and
error do; a pointer nested in a container prints `&{...}` (Go prints its address).
"""

from __future__ import annotations

from typing import Any

from portside.gotemplate import values as V
from portside.gotemplate.fmtverbs import LDIGITS, UDIGITS, Fmt
from portside.gotemplate.gostr import from_bytes

UNSET: Any = object()

class ValuePrinter(Fmt):
    __slots__ = ("arg", "value", "reordered", "good_arg_num", "panicking", "erroring")

    def __init__(self) -> None:
        super().__init__()
        self.arg: Any = UNSET
        self.value: Any = UNSET
        self.reordered = self.good_arg_num = self.panicking = self.erroring = False

    def result(self) -> str:
        return "".join(self.buf)

    # ---- errors and methods -----------------------------------------------------------------------------
    def bad_verb(self, verb: str) -> None:
        self.erroring = True
        self.buf.append("%!" + verb + "(")
        if self.arg is not UNSET and self.arg is not None:
            self.buf.append(V.type_name(self.arg) + "=")
            self.print_arg(self.arg, "v")
        elif self.value is not UNSET and self.value is not V.MISSING:
            self.buf.append(V.type_name(self.value) + "=")
            self.print_value(self.value, "v", 0)
        else:
            self.buf.append("<nil>")
        self.buf.append(")")
        self.erroring = False

    def handle_methods(self, verb: str) -> bool:
        if self.erroring:
            return False
        if verb == "w":
            self.bad_verb(verb)
            return True
        arg = self.arg
        k = V.kind_of(arg)
        if k not in (V.STRUCT, V.PTR):
            return False
        info = V.struct_info(type(arg))
        names = ("GoString",) if self.sharp_v else ("Error", "String") if verb in "vsxXq" else ()
        for name in names:
            if name in info.methods or (name == "String" and not info.is_struct):
                self._call_method(arg, name, verb)
                return True
        return False

    def _call_method(self, arg: Any, name: str, verb: str) -> None:
        try:
            text = str(arg) if name == "String" and not V.struct_info(type(arg)).is_struct else \
                V.bound_method(arg, name)()  # type: ignore[misc]
        except Exception as e:  # Go recovers a panicking String/Error method and prints it
            if self.panicking:
                raise
            flags = self._save_flags()
            self.clearflags()
            self.buf.append(f"%!{verb}(PANIC={name} method: ")
            self.panicking = True
            self.print_arg(str(e), "v")
            self.panicking = False
            self.buf.append(")")
            self._restore_flags(flags)
            return
        if name == "GoString":
            self.fmt_s(str(text))
        else:
            self.fmt_string(str(text), verb)

    def _save_flags(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in Fmt.__slots__[1:])

    def _restore_flags(self, flags: tuple[Any, ...]) -> None:
        for n, v in zip(Fmt.__slots__[1:], flags, strict=True):
            setattr(self, n, v)

    # ---- basic kinds --------------------------------------------------------------------------------------
    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb in "tv":
            self.fmt_boolean(v)
        else:
            self.bad_verb(verb)

    def fmt_int(self, v: int, signed: bool, verb: str) -> None:
        if not signed and v < 0:
            v &= (1 << 64) - 1
        if verb == "v":
            if self.sharp_v and not signed:
                sharp, self.sharp = self.sharp, True
                self.fmt_integer(v, 16, False, "v", LDIGITS)
                self.sharp = sharp
            else:
                self.fmt_integer(v, 10, signed, verb, LDIGITS)
        elif verb in "dboOxX":
            base = {"d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}[verb]
            self.fmt_integer(v, base, signed, verb, UDIGITS if verb == "X" else LDIGITS)
        elif verb == "c":
            self.fmt_c(v)
        elif verb == "q":
            self.fmt_qc(v)
        elif verb == "U":
            self.fmt_unicode(v)
        else:
            self.bad_verb(verb)

    def fmt_flt(self, v: float, verb: str) -> None:
        if verb == "v":
            self.fmt_float(v, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(v, verb, -1)
        elif verb in "feE":
            self.fmt_float(v, verb, 6)
        elif verb == "F":
            self.fmt_float(v, "f", 6)
        else:
            self.bad_verb(verb)

    def fmt_cplx(self, v: complex, verb: str) -> None:
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb)
            return
        old_plus = self.plus
        self.buf.append("(")
        self.fmt_flt(v.real, verb)
        self.plus = True
        self.fmt_flt(v.imag, verb)
        self.buf.append("i)")
        self.plus = old_plus

    def fmt_string(self, v: str, verb: str) -> None:
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(v)
            else:
                self.fmt_s(v)
        elif verb == "s":
            self.fmt_s(v)
        elif verb in "xX":
            self.fmt_sbx(v, LDIGITS if verb == "x" else UDIGITS)
        elif verb == "q":
            self.fmt_q(v)
        else:
            self.bad_verb(verb)

    def fmt_pointer(self, v: Any, verb: str) -> None:
        """Go prints an address, which changes from run to run; ours is Python's id()."""
        u = id(v)
        if verb == "v":
            if self.sharp_v:
                self.buf.append(f"({V.type_name(v)})(0x{u:x})")
            else:
                sharp, self.sharp = self.sharp, not self.sharp
                self.fmt_integer(u, 16, False, "v", LDIGITS)
                self.sharp = sharp
        elif verb == "p":
            sharp, self.sharp = self.sharp, not self.sharp
            self.fmt_integer(u, 16, False, "v", LDIGITS)
            self.sharp = sharp
        elif verb in "bodxX":
            self.fmt_int(u, False, verb)
        else:
            self.bad_verb(verb)

    # ---- one argument -------------------------------------------------------------------------------------
    def print_arg(self, arg: Any, verb: str) -> None:
        self.arg = arg
        self.value = UNSET
        if arg is None or arg is V.MISSING:
            self.arg = UNSET
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb)
            return
        if verb == "T":
            self.fmt_s(V.type_name(arg))
            return
        if verb == "p":
            self.fmt_pointer(arg, "p") if V.kind_of(arg) in (V.SLICE, V.MAP, V.FUNC, V.PTR) else self.bad_verb("p")
            return
        t = type(arg)
        if t is str:
            self.fmt_string(arg, verb)
        elif t is int:
            self.fmt_int(arg, True, verb)
        elif t is float:
            self.fmt_flt(arg, verb)
        elif t is bool:
            self.fmt_bool(arg, verb)
        elif t is bytes or t is bytearray:
            self.fmt_bytes(arg, verb)
        elif not self.handle_methods(verb):
            self.print_value(arg, verb, 0)

    def fmt_bytes(self, v: bytes | bytearray, verb: str) -> None:
        """Go's fmtBytes for a []byte argument: %v/%d as numbers ("[]byte{0x68}" for %#v), %s %q %x as text."""
        if verb in "vd":
            if self.sharp_v:
                self.buf.append("[]byte{" + ", ".join(f"0x{c:x}" for c in v) + "}")
                return
            self.buf.append("[")
            for i, c in enumerate(v):
                if i > 0:
                    self.buf.append(" ")
                self.fmt_integer(c, 10, False, verb, LDIGITS)
            self.buf.append("]")
        elif verb in "sqxX":
            self._print_slice(v, verb, 0)
        else:
            self.print_value(v, verb, 0)

    def print_value(self, value: Any, verb: str, depth: int) -> None:
        if depth > 0 and value is not V.MISSING and value is not None:
            self.arg = value
            if self.handle_methods(verb):
                return
        self.arg = UNSET
        self.value = value
        k = V.kind_of(value)
        if k == V.STRING:
            self.fmt_string(value, verb)
        elif k in (V.INT, V.UINT):
            self.fmt_int(int(value), k == V.INT, verb)
        elif k == V.FLOAT:
            self.fmt_flt(float(value), verb)
        elif k == V.BOOL:
            self.fmt_bool(bool(value), verb)
        elif k == V.COMPLEX:
            self.fmt_cplx(value, verb)
        elif k == V.NIL:
            self.buf.append("interface {}(nil)" if self.sharp_v else "<nil>")
        elif k == V.INVALID:
            if depth == 0:
                self.buf.append("<invalid reflect.Value>")
            elif verb == "v":
                self.buf.append("<nil>")
            else:
                self.bad_verb(verb)
        else:
            self._print_composite(value, k, verb, depth)

    def _print_composite(self, value: Any, k: int, verb: str, depth: int) -> None:
        if k == V.MAP:
            self._print_map(value, verb, depth)
        elif k == V.SLICE:
            self._print_slice(value, verb, depth)
        elif k == V.STRUCT:
            self._print_struct(value, verb, depth, V.type_name(value))
        elif k == V.PTR:
            self.buf.append("&")
            if depth > 0:
                self.arg = value
                if self.handle_methods(verb):
                    return
            self._print_struct(value, verb, depth + 1, V.type_name(value).lstrip("*"))
        else:
            self.fmt_pointer(value, verb)

    def _print_map(self, m: Any, verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(V.type_name(m) + "{")
        else:
            self.buf.append("map[")
        for i, (key, val) in enumerate(V.sorted_items(m)):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(key, verb, depth + 1)
            self.buf.append(":")
            self.print_value(val, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def _print_slice(self, items: Any, verb: str, depth: int) -> None:
        if verb in "sqxX" and (isinstance(items, (bytes, bytearray)) or
                               isinstance(items, V.GoSlice) and items.elem in ("uint8", "byte")):
            text = from_bytes(bytes(int(b) & 0xFF for b in items))
            self.fmt_s(text) if verb == "s" else self.fmt_q(text) if verb == "q" else self.fmt_string(text, verb)
            return
        if self.sharp_v:
            self.buf.append(V.type_name(items) + "{")
        else:
            self.buf.append("[")
        is_bytes = isinstance(items, (bytes, bytearray))
        for i, item in enumerate(items):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(V.Uint8(item) if is_bytes else item, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def _print_struct(self, obj: Any, verb: str, depth: int, go_type: str) -> None:
        info = V.struct_info(type(obj))
        if not info.is_struct:
            self.fmt_string(str(obj), verb)
            return
        if self.sharp_v:
            self.buf.append(go_type)
        self.buf.append("{")
        for i, (name, attr) in enumerate(info.fields):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            if self.plus_v or self.sharp_v:
                self.buf.append(name + ":")
            self.print_value(getattr(obj, attr), verb, depth + 1)
        self.buf.append("}")

    # ---- Printf -------------------------------------------------------------------------------------------
