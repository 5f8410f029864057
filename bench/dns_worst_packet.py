"""Per-packet cost of the most expensive queries we know (testbed/dnspackets.py: additional sections full of
compression-pointer chains, or EDNS options) against a plain query answered by the fast path (not from the UDP
reply cache), through the Responder itself (no sockets): what one such packet costs the event loop. Prints
microseconds per packet and the ratio to the plain query.
Usage: .venv/bin/python bench/dns_worst_packet.py"""

from __future__ import annotations

import argparse
import time

import dns.message

from bench.benchjson import add_json_option, row, write_rows
from dns_balancer.snapshot import PASSING, Instance, Snapshot
from dns_balancer.wire import Responder
from dns_balancer.zone import ZoneConfig, build_zone
from testbed.dnspackets import worst_packets


def responder() -> Responder:
    instances = tuple(Instance(id=f"web-{i}", service="web", node="n1", address=f"127.0.0.{i + 2}", port=80,
                               node_address="127.0.0.1", tags=(), status=PASSING, weight_passing=1,
                               weight_warning=1) for i in range(3))
    return Responder(build_zone(Snapshot().with_services({"web": instances}, 1), ZoneConfig()))


def per_packet(r: Responder, packet: bytes, tcp: bool, budget: float = 0.5) -> float:
    """Best of five batches, each about `budget` seconds: seconds per packet."""
    n = 1
    t0 = time.perf_counter()
    r.answer(packet, tcp)
    one = time.perf_counter() - t0
    n = max(1, int(budget / max(one, 1e-7)))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            r.answer(packet, tcp)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_json_option(ap)
    args = ap.parse_args()
    r = responder()
    plain = dns.message.make_query("web.service.consul", "A").to_wire()
    base = per_packet(r, plain, True)  # over TCP: the fast path without the UDP reply cache
    cached = per_packet(r, plain, False)
    print(f"{'packet':<12} {'bytes':>6} {'us/packet':>11} {'x plain':>9}  reply")
    print(f"{'plain A':<12} {len(plain):>6} {base * 1e6:>11.2f} {1:>9.0f}  (from the UDP reply cache: "
          f"{cached * 1e6:.2f} us)")
    rows = []
    for name, packet in worst_packets().items():
        tcp = len(packet) > 1232
        cost = per_packet(r, packet, tcp)
        reply = r.answer(packet, tcp)
        rcode = "dropped" if not isinstance(reply, bytes) else f"rcode {reply[3] & 0x0F}"
        print(f"{name:<12} {len(packet):>6} {cost * 1e6:>11.2f} {cost / base:>9.0f}  {rcode}")
        rows.append(row(f"DNS worst packet: {name}", len(packet), cost * 1e6, base * 1e6, "us/packet",
                        "plain A query (ours)", "the anchor is our own plain query: the ratio is the packet's weight"))
    write_rows(args.json, rows)


if __name__ == "__main__":
    main()
