#!/usr/bin/env bash
# dns-balancer vs the Consul agent's own DNS vs a bare uvloop UDP responder (the Python ceiling), with dnsperf,
# loopback only, bounded duration. Same catalog for both servers: 50 services x 10 instances, A + SRV queries.
# Prints qps, mean latency at saturation, p50/p99 at half of each server's max, and the ratios.
# Usage: bench/dns_qps.sh [--duration 10] [--latency-duration 5] [--clients 4] [--only ours ...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dnsperf >/dev/null || { echo "dns_qps.sh: dnsperf is needed (apt-get install dnsperf)" >&2; exit 1; }
exec .venv/bin/python bench/dns_bench.py "$@"
