"""ReachabilityByDatacenter: a partitioned datacenter shows by name; the overall view is what it always was."""

from __future__ import annotations

from portside.consul import ConsulError, ConsulUnreachable
from portside.consul.bydc import LOCAL, ReachabilityByDatacenter, datacenter_of
from portside.consul.watch import target_of


def test_the_datacenter_of_a_target_is_its_dc_parameter() -> None:
    assert datacenter_of(target_of("/v1/health/service/web", [("dc", "dc2"), ("passing", "1")])) == "dc2"
    assert datacenter_of(target_of("/v1/health/service/web", [])) == LOCAL
    assert datacenter_of("/v1/kv/a?dc=") == LOCAL


def test_a_failing_datacenter_is_named_and_recovers() -> None:
    flips: list[bool] = []
    reach = ReachabilityByDatacenter(lambda ok, _detail: flips.append(ok))
    local, remote = "/v1/health/service/web", "/v1/health/service/web?dc=dc2"
    reach.on_answer(local)
    reach.on_error(remote, ConsulError("watch", "rpc error making call: No path to datacenter", 500))
    assert not reach.reachable and flips == [False]
    assert reach.of(LOCAL).reachable and not reach.of("dc2").reachable
    reach.on_error(local, ConsulUnreachable("watch", "refused"))
    reach.on_answer(remote)
    assert reach.of("dc2").reachable and not reach.of(LOCAL).reachable
    reach.on_stop(local)  # a watch that stopped no longer counts against its datacenter
    assert reach.reachable and reach.of(LOCAL).reachable and flips == [False, True]
    assert sorted(reach.datacenters) == ["dc2", LOCAL]
