"""The errors a template raises, worded as Go's text/template words them."""

from __future__ import annotations


class TemplateError(Exception):
    """Base of every error this package raises on purpose (the message is the whole of Go's error text)."""


class ParseError(TemplateError):
    """A template that does not parse: "template: NAME:LINE: MESSAGE"."""


class ExecError(TemplateError):
    """A failed execution: "template: NAME:LINE:COL: executing "NAME" at <NODE>: MESSAGE".

    `output` is what the template wrote before failing (Go writes it to its writer as it goes);
    `template_name` is the template that was executing; `detail` is MESSAGE alone.
    """

    def __init__(self, message: str, *, template_name: str = "", detail: str = "", output: str = "") -> None:
        super().__init__(message)
        self.template_name = template_name
        self.detail = detail or message
        self.output = output


class ExecDepthError(ExecError):
    """Templates nested deeper than the Python stack allows; never wrapped as "error calling NAME"."""
