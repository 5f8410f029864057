"""Backoff over a very long outage: the delay stays within its cap and nothing overflows."""

from __future__ import annotations

import random

import pytest

from portside.backoff import Backoff


def test_ten_thousand_failures_stay_capped_without_overflow():
    # 2.0 ** 1024 overflows a float: at 5 s per retry that was about an hour of Consul being down
    b = Backoff(base=0.05, cap=5.0, rng=random.Random(7))
    delays = [b.next_delay() for _ in range(10_000)]
    assert all(0 < d <= 5.0 for d in delays)
    assert all(2.5 <= d <= 5.0 for d in delays[20:])  # long since at the cap, still jittered
    assert len(set(delays[-100:])) > 90
    b.reset()
    assert b.next_delay() <= 0.05


def test_constant_delay_with_factor_one():
    b = Backoff(base=1.0, cap=1.0, factor=1.0, rng=random.Random(1))
    assert all(0.5 <= b.next_delay() <= 1.0 for _ in range(5000))


@pytest.mark.parametrize("kw", [{"base": 0}, {"base": 2.0, "cap": 1.0}, {"factor": 0.5}, {"base": -1}])
def test_nonsense_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        Backoff(**kw)
