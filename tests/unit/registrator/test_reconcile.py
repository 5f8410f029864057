"""reconcile.plan and the ownership rule, directly."""

from __future__ import annotations

from registrator.metadata import OWNER_CONTAINER, OWNER_NODE, Service
from registrator.reconcile import claim_refused, missing, owned_ids, plan


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
