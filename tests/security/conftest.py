"""Fixtures of the attack tests: the daemons' harnesses from tests/support (the engines: tests/conftest.py)."""

from tests.support.regharness import registrator

__all__ = ["registrator"]
