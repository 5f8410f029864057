"""Command line of `consul-templates`. The daemon itself is not built yet (issue #6): this entry point exists so
the console script and `python -m consul_templates` are wired, and says so plainly instead of pretending."""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """consul-templates: NOT IMPLEMENTED YET (issue #6). Exits with status 2."""
    raise click.UsageError("consul-templates is not implemented yet (issue #6)")


def main() -> int:
    cli.main(prog_name="consul-templates", standalone_mode=True)
    return 0
