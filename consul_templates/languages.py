"""The template languages and what every one of them shares: the plug-in point, the outcome of a render, and
the guard loop that drops one hostile service instance instead of freezing the whole file.

A language is a module with a `compile(text, name, options) -> Renderer` function, found by name in
`LANGUAGES` and imported only when a template uses it (so a missing engine is a clear configuration error,
not an import failure at start). A `Renderer.render(data)` is pure: it reads the store through the template
functions, records every dependency it read, and checks each raw interpolated value with `options.guard`; in a
complete pass a refused value raises `refusal(...)` (a RefusedValue naming value and source). `render_guarded()`
then finds whether that value belongs to a service instance; if so the instance is dropped (logged, counted) and
the template rendered again without it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from consul_templates.functions import SERVICE, Dependency
from consul_templates.guards import GUARDS, Guard

log = logging.getLogger("consul_templates.render")

# language name -> module that implements it (the Go engine lives in the module named here)
LANGUAGES = {"jinja2": "consul_templates.render", "go": "consul_templates.gotemplates"}
MAX_DROPPED = 64  # a render refusing more instances than this is failed as a whole


class RenderError(Exception):
    """A render failed for a reason that more data will not fix; the message names template and value.
    `used` holds the dependencies read before the failure: they stay watched, so new data can fix it."""

    def __init__(self, message: str, used: frozenset[Dependency] = frozenset()) -> None:
        super().__init__(message)
        self.used = used


class UnsafeValue(ValueError):
    """Raised by an engine for a value its template's guard refuses."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class CompileOptions:
    guard: Guard = GUARDS["nginx"]
    left_delimiter: str | None = None  # None: the language's own default
    right_delimiter: str | None = None
    error_on_missing_key: bool = False
    search_path: Path | None = None  # where includes/imports are looked up (the template's directory)


@dataclass(frozen=True)
class RenderInput:
    """What a render reads: the data store and the environment visible to `env()`."""

    store: Mapping[Dependency, Any]
    environ: Mapping[str, str]


@dataclass(frozen=True)
class Outcome:
    """One render: `text` is None when the data is incomplete (missing or blocked dependencies)."""

    text: str | None
    used: frozenset[Dependency]
    missing: frozenset[Dependency]
    blocked: frozenset[Dependency]
    dropped: tuple[Dropped, ...] = ()

    @property
    def complete(self) -> bool:
        return self.text is not None


class Renderer(Protocol):
    name: str

    def render(self, data: RenderInput) -> Outcome: ...


Compile = Callable[[str, str, CompileOptions], Renderer]


def compiler(language: str) -> Compile:
    """The compile function of a language; RenderError when it is unknown or not available in this build."""
    module_name = LANGUAGES.get(language)
    if module_name is None:
        raise RenderError(f"unknown template language {language!r} (known: {', '.join(sorted(LANGUAGES))})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RenderError(f"the {language!r} template language is not available in this build ({exc})") from None
    function: Compile = module.compile_template
    return function


# ---- the instance filter: hostile instances are dropped where instances are handed to the template ------
@dataclass(frozen=True)
class Dropped:
    """One service instance left out of a render: which, which field, why."""

    dependency: Dependency
    instance_id: str
    node: str
    field: str
    value: str
    reason: str

    def describe(self) -> str:
        return (f"instance {self.instance_id!r} on node {self.node!r} of {self.dependency} dropped: its {self.field} "
                f"{self.value!r} {self.reason}")


@dataclass(frozen=True)
class FilteredStore(Mapping[Dependency, Any]):
    """The store as one render sees it: service answers without the instances dropped so far."""

    store: Mapping[Dependency, Any]
    dropped: frozenset[tuple[Dependency, str, str]] = field(default_factory=frozenset)
    _filtered: frozenset[Dependency] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_filtered", frozenset(dep for dep, _, _ in self.dropped))

    def __getitem__(self, dep: Dependency) -> Any:
        value = self.store[dep]
        if dep not in self._filtered:  # the others keep their identity: the Jinja loop memo's check
            return value
        return tuple(i for i in value if (dep, _id(i), _node(i)) not in self.dropped)

    @property
    def fast(self) -> Mapping[Dependency, Any]:
        """The same values with one layer less: the store itself while nothing is filtered out."""
        return self if self._filtered else self.store

    def get(self, dep: Dependency, default: Any = None) -> Any:  # the hot path of a render: one layer, not three
        if dep not in self._filtered:
            return self.store.get(dep, default)
        try:
            return self[dep]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[Dependency]:
        return iter(self.store)

    def __len__(self) -> int:
        return len(self.store)


def _id(instance: Any) -> str:
    return str(getattr(instance, "id", ""))


def _node(instance: Any) -> str:
    return str(getattr(instance, "node", ""))


def _string_fields(instance: Any) -> Iterator[tuple[str, str]]:
    names = getattr(instance, "__slots__", None) or getattr(instance, "__dataclass_fields__", {})
    for name in names:
        value = getattr(instance, name, None)
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, tuple | list):  # tuples (Jinja's instances), lists (Go's tags)
            yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, str))
        elif isinstance(value, Mapping):
            yield from ((f"{name}[{k!r}]", v) for k, v in value.items() if isinstance(v, str))


def owner(value: object, data: FilteredStore, used: frozenset[Dependency],
          guard: Guard) -> tuple[Dependency, Any, str] | None:
    """The (dependency, instance, field) a refused value came from, if it came from a service instance.
    A field equal to the value wins; else a field contained in it (a value built by concatenation) that the
    guard refuses on its own, so an innocent instance whose name merely appears in the text is never dropped."""
    text = str(value)
    contained = None
    for dep in sorted((d for d in used if d.kind == SERVICE), key=str):
        for instance in data.get(dep, ()):
            for name, field_value in _string_fields(instance):
                if field_value == text:
                    return dep, instance, name
                if contained is None and field_value in text and guard.reason(field_value) is not None:
                    contained = dep, instance, name
    return contained


class RefusedValue(RenderError):
    """A value the guard refused in a complete pass; `render_guarded` may drop its instance and render again."""

    def __init__(self, message: str, used: frozenset[Dependency], value: object, reason: str) -> None:
        super().__init__(message, used)
        self.value = value
        self.reason = reason


def refusal(name: str, unsafe: UnsafeValue, where: str, used: frozenset[Dependency]) -> RefusedValue:
    """What an engine raises for a refused value (`where` names the value's source, as well as it can)."""
    return RefusedValue(
        f"template {name}: refused value {unsafe.value!r} from {where}: it {unsafe.reason}; pass it through an "
        "encoder (nginx_quote, json / toJSON) if it is meant to be text, or set the template's syntax",
        used, unsafe.value, unsafe.reason)


def render_guarded(renderer: Renderer, data: RenderInput, guard: Guard,
                   on_drop: Callable[[Dropped], None] | None = None) -> Outcome:
    """Render; a refused value that belongs to a service instance drops that instance and renders again.

    A refused value from anywhere else (a KV value, a node, the template's own arithmetic) fails the render
    with the engine's RenderError naming the value and where it came from; the live file stays."""
    view = FilteredStore(data.store)
    dropped: list[Dropped] = []
    while True:
        try:
            outcome = renderer.render(RenderInput(view, data.environ))
        except RecursionError:  # whichever engine: a template that recurses without end fails, the daemon stays
            raise RenderError(f"template {renderer.name}: recursion too deep") from None
        except RefusedValue as exc:
            found = owner(exc.value, view, exc.used, guard) if len(dropped) < MAX_DROPPED else None
            if found is None:
                raise
            dep, instance, field_name = found
            item = Dropped(dep, _id(instance), _node(instance), field_name, str(exc.value), exc.reason)
            dropped.append(item)
            if on_drop is not None:
                on_drop(item)
            view = FilteredStore(data.store, view.dropped | {(dep, item.instance_id, item.node)})
            continue
        if dropped:
            return Outcome(outcome.text, outcome.used, outcome.missing, outcome.blocked, tuple(dropped))
        return outcome
