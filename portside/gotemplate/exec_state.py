"""The state of one execution (Go's `state`): output, the variable stack, the node being evaluated (for error
texts), and the depth budget that keeps recursion a render error instead of a Python RecursionError."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from portside.gotemplate.errors import ExecDepthError, ExecError
from portside.gotemplate.gostr import quote
from portside.gotemplate.nodes import Node
from portside.gotemplate.parser import stack_depth

if TYPE_CHECKING:
    from portside.gotemplate.template import Template

MISSING_INVALID, MISSING_ZERO, MISSING_ERROR = range(3)
NOFINAL: Any = object()  # Go's missingVal: "no value piped in", distinct from any value

# Python frames kept free below the limit for user functions, fmt recursion and exception handling.
STACK_RESERVE = 150
# Frames one nested execution through a template function costs beyond the template it runs.
CALL_FRAMES = 12


class Break(Exception):
    pass


class Continue(Exception):
    pass


class State:
    """Mutable per execution; nothing in it is shared with another execution."""

    __slots__ = ("tmpl", "out", "write", "vars", "node", "depth", "frames", "leaf", "frame_budget", "dot_iface",
                 "missingkey", "funcs", "finalize", "data", "memo")

    def __init__(self, tmpl: Template, data: Any, frames: int = 0, frame_budget: int | None = None,
                 depth: int = 0) -> None:
        self.tmpl = tmpl
        self.out: list[str] = []
        self.write = self.out.append
        self.vars: list[list[Any]] = [["$", data, False]]
        self.node: Node | None = None
        self.depth = depth
        self.frames = frames
        self.leaf = 0
        if frame_budget is None:
            frame_budget = sys.getrecursionlimit() - stack_depth() - STACK_RESERVE
        self.frame_budget = frame_budget
        self.dot_iface = False
        common = tmpl.common
        self.missingkey = common.missingkey
        self.funcs: Mapping[str, Any] = common.funcs
        self.finalize: Callable[[Any, str], str] | None = common.finalize
        self.data = data
        self.memo: Any = None  # memo.RangeMemo of this execution, if the caller gave one

    # ---- errors -------------------------------------------------------------------------------------------
    def error(self, msg: str, cls: type[ExecError] = ExecError) -> ExecError:
        """Go's state.errorf: the error, located at the node being evaluated."""
        name = self.tmpl.name
        node = self.node
        if node is None:
            text = f"template: {name}: {msg}"
        else:
            text = f"template: {node.src.location(node.pos)}: executing {quote(name)} at <{node}>: {msg}"
        return cls(text, template_name=name, detail=msg)

    # ---- variables ----------------------------------------------------------------------------------------
    def push(self, name: str, value: Any, iface: bool = False) -> None:
        self.vars.append([name, value, iface])

    def set_var(self, name: str, value: Any, iface: bool = False) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                entry[2] = iface
                return
        raise self.error(f"undefined variable: {name}")

    def var_entry(self, name: str) -> list[Any]:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry
        raise self.error(f"undefined variable: {name}")

    # ---- depth --------------------------------------------------------------------------------------------
    def enter(self, frames: int, leaf: int) -> None:
        """Account for a nested template (its statement nesting, then at most one pipeline evaluation on top);
        ExecDepthError when the Python stack could not hold it."""
        self.depth += 1
        self.frames += frames
        if self.frames + leaf > self.frame_budget:
            raise self.error(f"exceeded maximum template depth ({self.depth})", ExecDepthError)

    def leave(self, frames: int) -> None:
        self.depth -= 1
        self.frames -= frames

    def nested_frames(self) -> int:
        """Frames in use when a template function runs another template: the statements, a whole pipeline
        evaluation (the function is called from one), and the call itself."""
        return self.frames + self.leaf + CALL_FRAMES


def missing_key_mode(option: str) -> int:
    return {"invalid": MISSING_INVALID, "default": MISSING_INVALID, "zero": MISSING_ZERO,
            "error": MISSING_ERROR}[option]

