"""Shared ground of the portside daemons: Consul adapter, settings, observability, process running."""

__version__ = "0.1.0"
