import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portside.backoff import Backoff
from portside.watchrules import next_index, parse_duration


def test_first_answer_is_a_change():
    assert next_index(0, 42, None) == (42, True)


def test_unchanged_index_is_ignored():
    assert next_index(42, 42, 42) == (42, False)


def test_index_moving_forward_is_a_change():
    assert next_index(42, 50, 42) == (50, True)


def test_backwards_index_resets_to_zero():
    # e.g. the agent restarted and its raft index starts over
    assert next_index(500, 7, 500) == (0, True)


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_index_resets_to_zero(bad):
    assert next_index(10, bad, 10)[0] == 0


@given(st.integers(0, 10**9), st.integers(-5, 10**9), st.one_of(st.none(), st.integers(0, 10**9)))
def test_index_never_negative_and_never_ahead_of_server(current, received, last):
    idx, changed = next_index(current, received, last)
    assert 0 <= idx <= max(received, 0)
    assert changed == (last is None or received != last)


@pytest.mark.parametrize("text,seconds", [("10s", 10), ("5m", 300), ("1m30s", 90), ("250ms", 0.25), ("1h", 3600)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "abc", "10", "10x", "s10", "1m abc", "५m", "١٠s", "1.५s"])  # Go: ASCII digits
def test_bad_durations_name_the_text(bad):
    with pytest.raises(ValueError) as err:
        parse_duration(bad)
    assert repr(bad) in str(err.value)


def test_backoff_grows_with_jitter_caps_and_resets():
    b = Backoff(base=0.1, cap=1.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    for i, d in enumerate(delays):
        ceiling = min(1.0, 0.1 * 2**i)
        assert ceiling / 2 <= d <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    b.reset()
    assert b.next_delay() <= 0.1


@pytest.mark.parametrize("wait", ["1s", "5m", "10m"])
def test_blocking_timeout_exceeds_consul_jitter(wait):
    from portside.watchrules import blocking_timeout

    w = parse_duration(wait)
    assert blocking_timeout(wait) > w + w / 16
    if wait == "10m":
        assert blocking_timeout(wait) > 300  # py-consul's session default would cut this query
