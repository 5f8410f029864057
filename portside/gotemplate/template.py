"""The template set (Go's *template.Template and its `common`): names -> parsed trees, functions, options.

Parsing adds trees to the set with Go's rules (a {{define}} of only blanks never replaces a definition; two
non-blank definitions in one text are an error). A tree is compiled into closures on first execution and the
compiled form is kept, so a template parsed once is executed many times at the cost of running closures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from portside.gotemplate.builtins import BUILTINS
from portside.gotemplate.errors import TemplateError
from portside.gotemplate.exec_state import missing_key_mode
from portside.gotemplate.exec_walk import Compiled, compile_tree, execute
from portside.gotemplate.funcs import GoFunc, as_gofunc
from portside.gotemplate.gostr import is_ident_char, quote
from portside.gotemplate.memo import RangeMemo
from portside.gotemplate.nodes import is_empty_tree
from portside.gotemplate.parser import Tree, parse

Finalize = Callable[[Any, str], str]


class _Common:
    """What every template of one set shares."""

    __slots__ = ("templates", "funcs", "missingkey", "finalize", "pure")

    def __init__(self) -> None:
        self.templates: dict[str, Template] = {}
        self.funcs: dict[str, GoFunc] = {}
        self.missingkey = 0
        self.finalize: Finalize | None = None
        self.pure: frozenset[str] | None = None


class _FuncNames:
    """The names a template may call while parsing: the set's functions and the builtins."""

    __slots__ = ("funcs",)

    def __init__(self, funcs: Mapping[str, Any]) -> None:
        self.funcs = funcs

    def __contains__(self, name: object) -> bool:
        return name in self.funcs or name in BUILTINS


def _good_name(name: str) -> bool:
    """Go's goodName: a letter or '_' first, then letters, digits and '_'."""
    return bool(name) and all(is_ident_char(c) for c in name) and not name[0].isdecimal()


class Template:
    """A named template in a set; see the package docstring for the API."""

    __slots__ = ("_name", "common", "_left", "_right", "_tree", "_cache")

    def __init__(self, name: str, *, delims: tuple[str, str] = ("", ""), funcs: Mapping[str, Any] | None = None,
                 missingkey: str = "default", finalize: Finalize | None = None, _common: _Common | None = None):
        self._name = name
        self.common = _common if _common is not None else _Common()
        self._left, self._right = delims
        self._tree: Tree | None = None
        self._cache: tuple[Tree, Compiled] | None = None
        if funcs:
            self.funcs(funcs)
        if missingkey != "default":
            self.option(f"missingkey={missingkey}")
        if finalize is not None:
            self.common.finalize = finalize

    def __repr__(self) -> str:
        return f"<Template {self._name!r}>"

    @property
    def name(self) -> str:
        return self._name

    @property
    def tree(self) -> Tree | None:
        """The parsed tree of this template (None until parsed)."""
        return self._tree

    # ---- building the set ---------------------------------------------------------------------------------
    def new(self, name: str) -> Template:
        """A new template in the same set, with this one's delimiters (Go's t.New)."""
        return Template(name, delims=(self._left, self._right), _common=self.common)

    def delims(self, left: str, right: str) -> Template:
        self._left, self._right = left, right
        return self

    def funcs(self, mapping: Mapping[str, Any]) -> Template:
        """Add functions (a name may replace a builtin). ValueError/TypeError where Go's Funcs panics."""
        for name, fn in mapping.items():
            if not _good_name(name):
                raise ValueError(f"function name {quote(name)} is not a valid identifier")
            if not callable(fn):
                raise TypeError(f"value for {name} not a function")
            self.common.funcs[name] = as_gofunc(fn)
        return self

    def option(self, *opts: str) -> Template:
        """Go's Option: "missingkey=default" (or "invalid"), "missingkey=zero", "missingkey=error"."""
        for opt in opts:
            if not opt:
                raise ValueError("empty option string")
            key, sep, value = opt.partition("=")
            if key != "missingkey" or not sep or value not in ("invalid", "default", "zero", "error"):
                raise ValueError(f"unrecognized option: {opt}")
            self.common.missingkey = missing_key_mode(value)
        return self

    def finalize(self, hook: Finalize | None) -> Template:
        """Set (or clear) the set's finalize hook (see the package docstring)."""
        self.common.finalize = hook
        return self

    def memoize(self, pure: frozenset[str] | None) -> Template:
        """Make memo sites of the set's ranges whose bodies depend only on their element and on the functions
        named in `pure` (memo.py); `execute(data, memo=...)` then keeps their iterations. None: no sites."""
        self.common.pure = pure
        for t in self.common.templates.values():
            t._cache = None
        self._cache = None
        return self

    def parse(self, text: str) -> Template:
        """Parse text into this template, adding its {{define}}/{{block}} templates to the set."""
        trees = parse(self._name, text, self._left, self._right, _FuncNames(self.common.funcs))
        for name, tree in trees.items():
            self._add_parse_tree(name, tree)
        return self

    def _add_parse_tree(self, name: str, tree: Tree) -> None:
        templates = self.common.templates
        nt = self if name == self._name else templates.get(name) or self.new(name)
        old = templates.get(name)
        if old is not None and is_empty_tree(tree.root) and old._tree is not None:
            if nt._tree is None:
                nt._tree = tree
            return
        templates[name] = nt
        nt._tree = tree

    def parse_files(self, *paths: str | os.PathLike[str]) -> Template:
        """Go's ParseFiles: each file is parsed as the template named by its base name."""
        if not paths:
            raise TemplateError("template: no files named in call to ParseFiles")
        for path in paths:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
            name = os.path.basename(path)
            (self if name == self._name else self.new(name)).parse(text)
        return self

    def clone(self) -> Template:
        """An independent copy of the set: later parses or funcs on either do not touch the other."""
        common = _Common()
        common.funcs = dict(self.common.funcs)
        common.missingkey = self.common.missingkey
        common.finalize = self.common.finalize
        common.pure = self.common.pure
        copy = None
        for name, t in self.common.templates.items():
            nt = Template(name, delims=(t._left, t._right), _common=common)
            nt._tree = t._tree
            common.templates[name] = nt
            if t is self:
                copy = nt
        if copy is None:
            copy = Template(self._name, delims=(self._left, self._right), _common=common)
            copy._tree = self._tree
        return copy

    # ---- looking up -----------------------------------------------------------------------------------------
    def lookup(self, name: str) -> Template | None:
        return self.common.templates.get(name)

    def templates(self) -> list[Template]:
        return list(self.common.templates.values())

    def defined_templates(self) -> str:
        """Go's DefinedTemplates (names sorted, where Go's order is a map's)."""
        names = sorted(n for n, t in self.common.templates.items() if t._tree is not None)
        return "; defined templates are: " + ", ".join(quote(n) for n in names) if names else ""

    def compiled(self) -> Compiled | None:
        tree = self._tree
        if tree is None:
            return None
        cache = self._cache
        if cache is None or cache[0] is not tree:
            cache = (tree, compile_tree(tree.root, self.common.pure))
            self._cache = cache
        return cache[1]

    # ---- executing ----------------------------------------------------------------------------------------
    def execute(self, data: Any = None, *, memo: RangeMemo | None = None) -> str:
        return execute(self, data, memo=memo)

    def execute_template(self, name: str, data: Any = None) -> str:
        tmpl = self.lookup(name)
        if tmpl is None:
            raise TemplateError(f"template: no template {quote(name)} associated with template {quote(self._name)}")
        return execute(tmpl, data)
