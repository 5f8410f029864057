"""Command line of `dns-balancer`. The daemon itself is not built yet (issue #5): this entry point exists so
the console script and `python -m dns_balancer` are wired, and says so plainly instead of pretending."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """dns-balancer: NOT IMPLEMENTED YET (issue #5). Exits with status 2."""
    raise click.UsageError("dns-balancer is not implemented yet (issue #5)")


def main() -> int:
    cli.main(prog_name="dns-balancer", standalone_mode=True)
    return 0
