"""reconcile.plan and the ownership rule, directly."""

from __future__ import annotations

from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service
from registrator.reconcile import adoptable, claim_refused, gliderlabs_service, missing, owned_ids, plan


def svc(sid: str, **kw) -> Service:
    meta = {OWNER_NODE: "n", OWNER_CONTAINER: "c1"}
    return Service(id=sid, name=kw.get("name", "web"), address="127.0.0.1", port=kw.get("port", 80), meta=meta,
                   container_id="c1")


def entry(s: Service, **over) -> dict:
    return {"Service": s.name, "Address": s.address, "Port": s.port, "Tags": list(s.tags), "Meta": dict(s.meta),
            **over}


def test_plan_registers_missing_and_different_only() -> None:
    same, moved, new = svc("n:a:80"), svc("n:b:80", port=81), svc("n:c:80")
    actual = {same.id: entry(same), moved.id: entry(moved, Port=80)}
    p = plan([same, moved, new], actual, "n", cleanup=False)
    assert [s.id for s in p.register] == [moved.id, new.id]
    assert p.deregister == ()


def test_plan_cleans_up_only_this_nodes_unwanted_services_and_keeps_the_kept() -> None:
    mine_gone, mine_kept, wanted = svc("n:gone:80"), svc("n:kept:80"), svc("n:up:80")
    other = {"Service": "x", "Meta": {OWNER_NODE: "other"}}
    hand_made = {"Service": "y", "Meta": {}}
    actual = {mine_gone.id: entry(mine_gone), mine_kept.id: entry(mine_kept), wanted.id: entry(wanted),
              "other:1": other, "hand": hand_made}
    p = plan([wanted], actual, "n", cleanup=True, keep=[mine_kept.id])
    assert p.register == () and p.deregister == (mine_gone.id,)
    assert plan([wanted], actual, "n", cleanup=False).deregister == ()
    assert owned_ids(actual, "n") == {mine_gone.id, mine_kept.id, wanted.id}


def test_missing() -> None:
    a, b = svc("a"), svc("b")
    assert missing([a, b], {"a": {}}) == [b]


def test_claim_free_own_foreign_and_sibling() -> None:
    def running(cid: str) -> bool:
        return cid == "sibling"

    assert claim_refused(None, "n", "c1", running) is None
    assert claim_refused({"Meta": {OWNER_NODE: "n", OWNER_CONTAINER: "c1"}}, "n", "c1", running) is None
    # left by a container that no longer runs (registrator was down): free again
    assert claim_refused({"Meta": {OWNER_NODE: "n", OWNER_CONTAINER: "dead"}}, "n", "c1", running) is None
    assert "node 'other'" in (claim_refused({"Meta": {OWNER_NODE: "other"}}, "n", "c1", running) or "")
    assert "did not register" in (claim_refused({"Meta": {}}, "n", "c1", running) or "")
    assert "did not register" in (claim_refused({"ID": "x"}, "n", "c1", running) or "")
    assert "sibling" in (claim_refused({"Meta": {OWNER_NODE: "n", OWNER_CONTAINER: "sibling"}}, "n", "c1", running)
                         or "")


# ---- a host switched from gliderlabs: its services (no Meta of ours, ID <host>:<container>:<port>) ----
def gliderlabs(address: str = "127.0.0.1", port: int = 80) -> dict:
    return {"Service": "web", "Address": address, "Port": port, "Tags": [], "Meta": {"check_ttl": "30s"}}


def test_gliderlabs_services_adopted_only_by_the_container_that_proves_them_its_own() -> None:
    generated = svc("n:web1:80")  # ID made of node, container and port: that container's, names are unique
    assert adoptable(generated, gliderlabs(port=9999), "n")
    labelled = Service(id="n:web1:80", name="web", address="127.0.0.1", port=80, id_key="SERVICE_ID")
    assert adoptable(labelled, gliderlabs(), "n")  # a label naming it: the same address and port
    assert not adoptable(labelled, gliderlabs(port=81), "n")  # ... or not at all
    assert not adoptable(svc("other:web1:80"), gliderlabs(), "n")  # another host's
    assert not adoptable(svc("n-by-hand"), gliderlabs(), "n")  # not gliderlabs' form
    assert not adoptable(generated, {**gliderlabs(), "Meta": {OWNER_NODE: "m"}}, "n")  # another registrator's
    assert not adoptable(generated, None, "n")
    assert claim_refused(gliderlabs(), "n", "c1", lambda _: False) is not None  # without adoption: left alone
    assert claim_refused(gliderlabs(), "n", "c1", lambda _: False, adopt=True) is None


def test_cleanup_removes_gliderlabs_ghosts_of_this_host_only_with_adoption() -> None:
    wanted = svc("n:up:80")
    actual = {wanted.id: entry(wanted), "n:gone:80": gliderlabs(), "n:gone:53:udp": gliderlabs(),
              "other:gone:80": gliderlabs(), "n-by-hand": gliderlabs(), "n:up:443": gliderlabs()}
    p = plan([wanted], actual, "n", cleanup=True, adopt_gliderlabs=True)
    assert p.deregister == ("n:gone:53:udp", "n:gone:80", "n:up:443")
    assert plan([wanted], actual, "n", cleanup=True).deregister == ()
    assert gliderlabs_service("n:gone:80", gliderlabs(), "n")
    assert not gliderlabs_service("n:gone:80", entry(wanted), "n")
