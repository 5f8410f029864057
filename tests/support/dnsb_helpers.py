"""Builders shared by the dns_balancer unit tests: instances, snapshots, a responder, dnspython queries.
(A plain module, not a conftest: conftest modules of several test packages would clash on import.)"""

from __future__ import annotations

import dns.message

from dns_balancer.snapshot import PASSING, Instance, Node, Snapshot
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig, build_zone

NODE = "n1"
NODE_ADDR = "127.0.0.1"


def inst(i: int, service: str = "web", *, address: str | None = None, status: str = PASSING,
         tags: tuple[str, ...] = (), port: int | None = None, node: str = NODE, weights: tuple[int, int] = (1, 1),
         node_address: str = NODE_ADDR) -> Instance:
    return Instance(
        id=f"{service}-{i}", service=service, node=node, address=address or f"127.0.0.{i + 2}",
        port=port if port is not None else 8000 + i, node_address=node_address, tags=tags, status=status,
        weight_passing=weights[0], weight_warning=weights[1],
    )


def snapshot(services: dict[str, tuple[Instance, ...]], nodes: dict[str, str] | None = None,
             dc: str = "dc1") -> Snapshot:
    snap = Snapshot(datacenter=dc).with_nodes({n: Node(n, a) for n, a in (nodes or {NODE: NODE_ADDR}).items()}, 7)
    return snap.with_services(services, 9)


def query(name: str, rdtype: str = "A", *, edns: int | None = None, want_dnssec: bool = False,
          qid: int = 0x1234) -> bytes:
    msg = dns.message.make_query(name, rdtype, use_edns=edns is not None, payload=edns or 1232,
                                 want_dnssec=want_dnssec)
    msg.id = qid
    return msg.to_wire()


def responder(services: dict[str, tuple[Instance, ...]], *, recursion: bool = False, a_record_limit: int = 0,
              **zone_options: object) -> Responder:
    cfg = ZoneConfig(**zone_options)  # type: ignore[arg-type]
    return Responder(build_zone(snapshot(services), cfg), recursion=recursion, a_record_limit=a_record_limit)


def ask(responder: Responder, name: str, rdtype: str = "A", *, tcp: bool = False, **kw: object) -> dns.message.Message:
    wire = query(name, rdtype, **kw)  # type: ignore[arg-type]
    reply = responder.answer(wire, tcp)
    assert isinstance(reply, bytes), reply
    return dns.message.from_wire(reply)
