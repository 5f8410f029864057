"""Fixtures for the registrator integration tests (they live in tests/support/regharness.py, shared with
tests/security)."""

from tests.support.regharness import registrator

__all__ = ["registrator"]
