"""ConsulClient.watch's loop against a scripted get_indexed: which answers are handed out, with which index."""

from __future__ import annotations

import asyncio
from typing import Any

from portside.backoff import Backoff
from portside.consul import Answer, ConsulClient, ConsulPermissionDenied, ConsulUnreachable, Reachability


class Scripted(ConsulClient):
    """get_indexed replays a script of (index, data) answers or errors and records the index asked with."""

    def __init__(self, script: list[Any]) -> None:  # no raw client: only watch() is exercised
        self.script = list(script)
        self.asked: list[int] = []
        self.waits: list[str] = []

    async def get_indexed(self, path: str, params: Any = (), *, index: int = 0, wait: str = "5m",
                          stale: bool = False, what: str | None = None) -> Answer:
        self.asked.append(index)
        self.waits.append(wait)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        # (index, data, "filtered"): Consul's ACLs hid part of this answer
        return Answer(step[0], step[1], filtered=len(step) == 3)


async def _collect(client: Scripted, n: int) -> list[tuple[int, Any]]:
    out = []
    async for item in client.watch("/v1/x", min_interval=0, backoff=Backoff(base=0.001, cap=0.001)):
        out.append(item)
        if len(out) == n:
            break
    return out


async def test_unchanged_index_is_not_handed_out_twice() -> None:
    client = Scripted([(14, ["a"]), (14, ["a"]), (15, ["b"])])
    assert await _collect(client, 2) == [(14, ["a"]), (15, ["b"])]
    assert client.asked == [0, 14, 14]


async def test_after_an_error_the_next_answer_is_handed_out_even_at_the_same_index() -> None:
    # A restarted dev agent can come back at the very index we last saw, with different (empty) data.
    down = ConsulUnreachable("watch /v1/x", "connection refused")
    client = Scripted([(14, ["a"]), down, down, (14, []), (14, []), (20, ["c"])])
    assert await _collect(client, 3) == [(14, ["a"]), (14, []), (20, ["c"])]
    # blocking index dropped to 0 after the error, so a server behind our index answers at once
    assert client.asked == [0, 14, 0, 0, 14, 14]


async def test_while_acls_filter_the_answer_a_grant_shows_at_an_unchanged_index() -> None:
    # A policy change does not move the index (nor wake a blocking query): while filtered, block briefly and
    # hand out changed data at the same index; once no longer filtered, the normal rules and wait again.
    # Consul drops the header on a health answer at the end of a blocking wait: the same answer without it still
    # counts as filtered.
    client = Scripted([(14, [], "filtered"), (14, []), (14, ["a"]), (14, ["a"]), (15, ["b"])])
    assert await _collect(client, 3) == [(14, []), (14, ["a"]), (15, ["b"])]
    assert client.asked == [0, 14, 14, 14, 14]
    assert client.waits == ["5m", "5s", "5s", "5m", "5m"]


async def test_watch_outlives_ten_thousand_failures_and_yields_when_data_is_back(monkeypatch):
    # An hour-long outage is ~1000 retries at the 5 s cap; the default Backoff used to overflow there and end the
    # watch for good. Sleeps are patched out (the delays asked for are kept to check them).
    down = ConsulUnreachable("watch /v1/x", "connection refused")
    client = Scripted([(14, ["a"]), *([down] * 10_000), (3, ["back"])])
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def no_sleep(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    out = []
    async for item in client.watch("/v1/x", min_interval=0):
        out.append(item)
        if len(out) == 2:
            break
    assert out == [(14, ["a"]), (3, ["back"])]
    assert len(client.asked) == 10_002 and client.asked[-1] == 0
    assert max(slept) <= 5.0 and min(slept[-100:]) >= 2.5


async def test_filtered_state_belongs_to_each_watch_not_to_the_path() -> None:
    # Two watches of one path with other parameters: one answer filtered by ACLs must not make the other block
    # briefly (or compare data) as if it were filtered too; the adapter keeps no per-path state.
    class PerParams(Scripted):
        async def get_indexed(self, path: str, params: Any = (), *, index: int = 0, wait: str = "5m",
                              stale: bool = False, what: str | None = None) -> Answer:
            self.waits.append(f"{dict(params)['tag']}:{wait}")
            return Answer(index + 1, [dict(params)["tag"]], filtered=dict(params)["tag"] == "hidden")

    client = PerParams([])
    seen: dict[str, int] = {"hidden": 0, "open": 0}

    async def run(tag: str) -> None:
        async for _ in client.watch("/v1/health/service/web", [("tag", tag)], min_interval=0):
            seen[tag] += 1
            if seen[tag] == 3:
                return

    await asyncio.gather(run("hidden"), run("open"))
    assert [w for w in client.waits if w.startswith("open:")] == ["open:5m"] * 3
    assert [w for w in client.waits if w.startswith("hidden:")] == ["hidden:5m", "hidden:5s", "hidden:5s"]


async def test_reachability_observer_tells_unreachable_from_permission_denied() -> None:
    class Recording(Reachability):
        def __init__(self) -> None:
            super().__init__(lambda ok, _: changes.append(ok))
            self.states: list[tuple[bool, bool]] = []

        def on_answer(self, target: str) -> None:
            super().on_answer(target)
            self.states.append((self.reachable, self.permitted))

        def on_error(self, target: str, exc: Any) -> None:
            super().on_error(target, exc)
            self.states.append((self.reachable, self.permitted))

    changes: list[bool] = []
    seen = Recording()
    down = ConsulUnreachable("read service health", "connection refused")
    denied = ConsulPermissionDenied("read service health", "the token lacks service:read")
    client = Scripted([(14, ["a"]), down, denied, (15, ["b"])])
    async for index, _ in client.watch("/v1/x", [("dc", "dc1")], min_interval=0, observer=seen,
                                       backoff=Backoff(base=0.001, cap=0.001)):
        if index == 15:
            break
    # (reachable, permitted) after each fetch: answered; refused; 403 (Consul answers: reachable); answered
    assert seen.states == [(True, True), (False, True), (True, False), (True, True)]
    assert changes == [False, True] and seen.errors == 2
    assert not seen.failing and not seen.denied  # the watch ended: forgotten (on_stop)


class Timed(Scripted):
    """Scripted, and notes the loop time of each fetch, to see which wake-ups were rate-limited."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__(script)
        self.times: list[float] = []

    async def get_indexed(self, path: str, params: Any = (), *, index: int = 0, wait: str = "5m",
                          stale: bool = False, what: str | None = None) -> Answer:
        self.times.append(asyncio.get_running_loop().time())
        return await super().get_indexed(path, params, index=index, wait=wait, stale=stale, what=what)


async def test_only_wake_ups_that_bring_nothing_new_are_rate_limited() -> None:
    # A change is handed on and the next fetch starts at once; the same index, an index that went backwards, and
    # equal data at a new index each wait out min_interval before the next fetch.
    client = Timed([(10, ["a"]), (11, ["b"]), (12, ["c"]), (12, ["c"]), (13, ["c"]), (5, ["d"]), (5, ["d"]),
                    (6, ["e"])])
    out = []
    async for item in client.watch("/v1/x", min_interval=0.2):
        out.append(item)
        if len(out) == 6:
            break
    assert out == [(10, ["a"]), (11, ["b"]), (12, ["c"]), (13, ["c"]), (5, ["d"]), (6, ["e"])]
    gaps = [b - a for a, b in zip(client.times, client.times[1:], strict=False)]
    # fetches: 10 11 12 12(same index) 13(equal data) 5(went backwards, new data) 5(same, asked at 0) 6
    assert all(g < 0.1 for g in gaps[:3]), gaps  # after a change: at once
    assert gaps[3] >= 0.19 and gaps[4] >= 0.19, gaps  # same index, equal data at a new index: rate-limited
    assert gaps[5] < 0.1, gaps  # new data behind a reset index is a change too; its re-ask is not blocking...
    assert gaps[6] >= 0.19, gaps  # ...so the repeat it brings back is rate-limited: no tight loop


async def test_what_a_change_woke_runs_before_the_next_request_goes_out() -> None:
    """A consumer that only wakes another task (the runner, the zone) on a change: that task runs before the
    watch sends its next request, so the request's cost is not on the path from the change to its effect."""
    order: list[str] = []
    woken = asyncio.Event()

    class Recorded(Scripted):
        async def get_indexed(self, path: str, params: Any = (), *, index: int = 0, wait: str = "5m",
                              stale: bool = False, what: str | None = None) -> Answer:
            order.append(f"request {index}")
            return await super().get_indexed(path, params, index=index, wait=wait, stale=stale, what=what)

    async def effect() -> None:
        await woken.wait()
        order.append("effect")

    task = asyncio.create_task(effect())
    client = Recorded([(14, ["a"]), (15, ["b"])])
    async for _ in client.watch("/v1/x", min_interval=0):
        if not woken.is_set():
            woken.set()
            continue
        break
    await task
    assert order == ["request 0", "effect", "request 14"]
