"""Faults 6-8 (fuzzed input), once each: 0 lost, 0 stale, 0 crashes, the Outcome in the message
(tests/faults/report.py runs them N times and prints the table)."""

from __future__ import annotations

import pytest

from tests.faults import fuzz_faults

pytestmark = pytest.mark.engines


@pytest.mark.parametrize("scenario", [fuzz_faults.label_fuzz, fuzz_faults.dns_fuzz, fuzz_faults.template_fuzz],
                         ids=lambda f: f.__name__)
def test_fuzz_fault(fault_env, scenario):
    out = scenario(fault_env)
    print(f"{scenario.__name__}: {out}")
    assert out.ok, f"{scenario.__name__}: {out}"
