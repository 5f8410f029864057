"""Go's `text/template`, implemented in pure Python, faithful to Go 1.22+ (checked against Go 1.26 itself).

The same template text gives the same bytes as Go, and the same errors with Go's wording. Nothing here knows
Consul or Docker: callers bring their functions (consul-template's library, registrator's `-tags`).

Quick start
-----------
    from portside.gotemplate import Template

    t = Template("upstreams", funcs={"service": service}, missingkey="zero").parse(text)
    out = t.execute(data)                    # -> str; parse once, execute many times (thread-safe)
    out = t.execute_template("row", item)    # a {{define}}d template of the same set

Go's chain `template.New(n).Delims(l, r).Funcs(m).Option(o).Parse(s)` is spelled
`Template(n).delims(l, r).funcs(m).option(o).parse(s)`; each returns the template, as Go's do.

Public API (stable)
-------------------
`Template(name, *, delims=("{{", "}}"), funcs=None, missingkey="default", finalize=None)`
    A template and the set it belongs to (Go's `*template.Template`: every template made with `new()` or by a
    `{{define}}` shares the set's definitions, functions and options).
    - `.name -> str`
    - `.parse(text: str) -> Template`                 add text (and its `{{define}}`s) to the set; ParseError
    - `.parse_files(*paths) -> Template`               Go's ParseFiles: each file is a template named by basename
    - `.new(name) -> Template`                         a new, empty template in the same set
    - `.delims(left, right) -> Template`               for later `parse` calls; "" means the default
    - `.funcs(mapping) -> Template`                    name -> callable or `GoFunc`; must precede `parse`
    - `.option(*opts) -> Template`                     "missingkey=default|invalid|zero|error"
    - `.lookup(name) -> Template | None`, `.templates() -> list[Template]`, `.defined_templates() -> str`
    - `.clone() -> Template`                           an independent copy of the set
    - `.execute(data=None, *, memo=None) -> str`       ExecError on failure; `memo`: see "Memo sites" below
    - `.memoize(pure: frozenset[str] | None) -> Template` the functions whose ranges may be memo sites
    - `.execute_template(name, data=None) -> str`      TemplateError if no such template
`finalize(value, text) -> str` (optional, not in Go): called for every `{{action}}` that prints, with the value
    and Go's text for it; what it returns is written. An exception it raises fails the render with an ExecError
    located at that action. For callers that must refuse hostile values (nginx syntax in a Consul tag).

Errors (`TemplateError` is the base; all are `Exception`s, never a crash, never a RecursionError):
    - `ParseError`:  "template: NAME:LINE: MESSAGE"
    - `ExecError`:   "template: NAME:LINE:COL: executing \"NAME\" at <NODE>: MESSAGE"; `.output` holds what was
                     written before the error (Go writes it too), `.template_name` the executing template.
    - `ExecDepthError(ExecError)`: recursion deeper than this Python stack allows (Go's limit is 100000
                     nested templates; ours is measured from the stack left, see below).

Functions
---------
A function is any Python callable: its required positional parameters are Go `interface {}` parameters, and
parameters with defaults or `*args` make it variadic; the wrong number of arguments is Go's "wrong number of
args for NAME: want N got M". It returns one value. An exception it raises becomes Go's "error calling NAME:
MESSAGE" (Go's `(value, error)` convention and its recovered panics). To get Go's typed-argument rules (a number
literal refused by a `string` parameter, etc.) declare the Go parameter types:

    @go_func("string", "...interface {}")             # or GoFunc(fn, ("string", "...interface {}"))
    def join(sep, *items): ...

Supported parameter types: string, bool, int, int64, uint8, float64, interface {} (or any), []T, map[K]V, named
struct types (`__go_type__`, below), and a trailing "...T". `result="string"` (optional) names the result type
for `%T` of the function value and "can't print" errors only; the value returned is what counts.
`GoFunc(fn)` without params reads them from fn's signature as above; on a struct method, params exclude self.

The execution hook: `GoFunc(fn, params, context=True)` (or `@go_func(..., context=True)`) passes an
`ExecContext` as the first argument: `.template` (the executing set), `.data` (the data given to execute),
`.execute_template(name, data=None) -> str` (runs another template of the set, sharing the depth budget: a
template that calls itself through a function ends in ExecDepthError, not a crash). consul-template's
`executeTemplate` is built on it.

Memo sites (not in Go; memo.py): after `memoize(pure)`, a `range` whose body depends only on its element, its
index and the functions named in `pure` keeps its iterations through the `RangeMemo` given to `execute`: the
caller decides which elements it keys on and when a kept text is still right. Output is Go's either way.

Values (Python -> Go)
---------------------
str -> string (bytes are its UTF-8; a byte that is not UTF-8, e.g. from `slice` in the middle of a rune, is
kept as a surrogateescape code point: `go_bytes(text)` gives Go's exact bytes); bool -> bool; int -> int;
float -> float64; complex -> complex128; None -> nil (a nil `interface {}`); list/tuple -> []interface {};
bytes -> []uint8; dict -> map[string]interface {} (map[int]interface {} when its first key is an int);
`GoSlice(items, elem="string")` and `GoMap(data, key="string", elem="string")` carry a Go element type (the
zero value of a missing key under missingkey=zero, `%T`, error texts; `name=` gives a named type such as
"dependency.ServiceTags"). A value read from a plain list or dict is an `interface {}` to Go, which shows in
error texts ("can't evaluate field X in type interface {}") exactly as in Go.

Structs: a dataclass, or any object whose class declares `__go_fields__` (Go field names in declaration order,
read with getattr; a mapping gives Go name -> attribute). `__go_type__` names its Go type for `%T` and errors
(default "<module>.<Class>"; a leading "*" marks a pointer, printed `&{...}` at the top level as Go does).
`.Name` reads a field; a missing one is "can't evaluate field Name in type T", a lower-case one Go's
"unexported field" error; `%v` prints `{a b}`, `%+v` `{Name:a Port:b}`. Methods: functions defined on the
class whose names start with an upper-case letter (Go's exported rule); `.Method arg` calls them (methods win
over fields, as in Go); `String()` and `Error()` methods are used by printing, as Go's fmt does. A `GoFunc`
class attribute is a typed method (`@go_func("string")` on a method). Any other Python object has no fields
and prints with str().

Go's `fmt` is in `gofmt`: `sprintf(format, *args)`, `sprint(*args)`, `sprintln(*args)` with Go's verbs, flags,
argument indexes and error forms; usable by function libraries that must format like Go.

How it is checked
-----------------
Go is the oracle: tests/support/gotemplate_oracle runs a corpus of cases (every construct, builtin, verb and
flag, and their errors) through Go 1.26's text/template; recorded.json holds Go's answers and every case must
give the same bytes and the same error text; with `go` present the answers are regenerated, and Hypothesis
compares random templates and data with Go. Unicode answers (printable, identifier letters) come from Go's
own tables (unitables.py, generated by the oracle), not from Python's unicodedata.

Limits and differences (deliberate)
-----------------------------------
- Not supported: ranging over Go channels and iterator functions (a Python callable is refused as Go refuses
  an un-rangeable value); pointer vs value receivers (every method is callable); typed nil pointers (None is
  always a nil interface: an action prints it `<no value>` where Go prints a typed nil pointer `<nil>`, and a
  field of a None is "nil pointer evaluating interface {}.X" where Go names the pointer type); the static type
  of a struct field (a field holding a string is a string to us, even where Go's field is an interface {}).
- An empty GoSlice/GoMap stands for Go's nil slice or map too: `%#v` prints `[]string{}` where Go prints
  `[]string(nil)` for a nil one (`%v`, len, range and truth are the same).
- A pointer nested in a slice, map or struct prints `&{...}` where Go prints its (changing) address; `%p`
  prints Python's id().
- A Python function's result type is unknown: `%T` and "can't print" name it `interface {}` unless the
  GoFunc declares `result=`.
- Recursion: Go allows 100000 nested `{{template}}` calls; a Python stack does not. The depth allowed is what
  the remaining stack holds (about 400 nested templates at the default recursion limit, fewer for templates
  with deep control structures or through functions) and beyond is ExecDepthError "exceeded maximum template
  depth (N)", N the depth reached. Parse nesting is bounded the same way: parentheses say Go's "max expression
  depth exceeded" (Go's own bound is 10000), control structures "max nesting depth exceeded" (Go has none).
- `slice` on a list: Go's capacity is taken as the length (JSON-decoded Go slices may have spare capacity).
- `defined_templates()` lists names sorted (Go's order is a map's).
"""

from __future__ import annotations

from portside.gotemplate.errors import ExecDepthError, ExecError, ParseError, TemplateError
from portside.gotemplate.escape import html_escape, js_escape, url_query_escape
from portside.gotemplate.funcs import ExecContext, GoFunc, go_func
from portside.gotemplate.gofmt import sprint, sprintf, sprintln
from portside.gotemplate.gostr import go_bytes
from portside.gotemplate.template import Template
from portside.gotemplate.values import GoMap, GoSlice, is_true

__all__ = [
    "ExecContext",
    "ExecDepthError",
    "ExecError",
    "GoFunc",
    "GoMap",
    "GoSlice",
    "ParseError",
    "Template",
    "TemplateError",
    "go_bytes",
    "go_func",
    "html_escape",
    "is_true",
    "js_escape",
    "sprint",
    "sprintf",
    "sprintln",
    "url_query_escape",
]
