"""Command line of `registrator`. The daemon itself is not built yet (issue #4): this entry point exists so
the console script and `python -m registrator` are wired, and says so plainly instead of pretending."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """registrator: NOT IMPLEMENTED YET (issue #4). Exits with status 2."""
    raise click.UsageError("registrator is not implemented yet (issue #4)")


def main() -> int:
    cli.main(prog_name="registrator", standalone_mode=True)
    return 0
