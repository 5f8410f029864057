"""Faults 1-5 and 9 of the fault suite, once each: 0 lost, 0 stale, 0 crashes (tests/faults/report.py runs
them N times and prints the table)."""

from __future__ import annotations

import pytest

from tests.faults import daemon_faults, registrator_faults

pytestmark = pytest.mark.engines


# the bounds on the time to converge, where it sets one
BOUNDS = {"consul_restart_in_churn": 10.0}


@pytest.mark.parametrize("scenario", [
    registrator_faults.kill9_in_burst,
    registrator_faults.consul_restart_in_churn,
    registrator_faults.dockerd_restart_in_churn,
    daemon_faults.consul_unreachable,
    daemon_faults.nginx_reload_failing,
    daemon_faults.sigterm_under_load,
], ids=lambda f: f.__name__)
def test_fault(fault_env, scenario):
    out = scenario(fault_env)
    print(f"{scenario.__name__}: {out}")
    assert out.ok, f"{scenario.__name__}: {out}"
    assert out.converge_s <= BOUNDS.get(scenario.__name__, 30.0), f"{scenario.__name__}: {out}"
