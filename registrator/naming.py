"""Pure: the name and the ID of one service, each a stage of its own, and the rule for what an ID or a name may
hold.

An ID travels into Consul's URLs (`/v1/agent/service/deregister/<id>`, `/maintenance/<id>`, the check IDs
`service:<id>` in `/v1/agent/check/pass/service:<id>`), and a name into `/v1/health/service/<name>`, so one taken
from a label is held to what is safe there: no `/` or `\\` (another path), no `..` (`../../leave` would turn a
deregistration into `PUT /v1/agent/leave`), no `?`, `#` or `%` (a query, a fragment, an escape), no white space
or control characters, at most MAX_ID (MAX_NAME) bytes. A name DNS cannot serve (`my_service`) is fine: Consul
and gliderlabs take it."""

from __future__ import annotations

import re

MAX_ID = 256  # bytes; Consul sets no limit, but an ID is repeated in every check ID and URL of the service
_DNS_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_UNSAFE_IN_ID = set("/\\?#%")


MAX_NAME = 256  # bytes; like an ID, a name travels into URLs (`/v1/health/service/<name>`)


def default_name(image: str) -> str:
    """gliderlabs' default: the image's last path element up to the first `:`, verbatim (`my_app`, `api.v1`)."""
    return image.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0] or "service"


def _url_problem(what: str, value: str, limit: int) -> str | None:
    """Why `value` cannot travel as one segment of a Consul URL (None when it can)."""
    if not value:
        return f"{what} is empty"
    if len(value.encode()) > limit:
        return f"{what} longer than {limit} bytes"
    if ".." in value:
        return f"{what} must not contain '..' (it is part of Consul's URLs)"
    bad = sorted(_UNSAFE_IN_ID.intersection(value))
    if bad:
        return f"{what} must not contain {' '.join(repr(c) for c in bad)} (it is part of Consul's URLs)"
    if any(c.isspace() or not c.isprintable() for c in value):
        return f"{what} must not contain white space or control characters"
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be registered. Consul takes names DNS cannot serve (`my_service`, `api.v1`) and so does
    gliderlabs: those are registered (see `dns_warning`); only what is unsafe in a URL is refused."""
    return _url_problem("service name", name, MAX_NAME)


def dns_warning(name: str) -> str | None:
    """Why Consul's DNS (and the dns-balancer) cannot serve `name` (None when they can)."""
    if _DNS_LABEL.match(name):
        return None
    return "not a DNS label (letters, digits, '-', max 63): Consul's DNS cannot serve it"


def service_name(named: str | None, image: str, exposed: int, *, group: bool, port_named: bool) -> str:
    """SERVICE_NAME (or SERVICE_<port>_NAME) as given, else the image's name; in a group (several ports
    published, or exposed with -internal), a name that is not port-specific gets `-<port>`."""
    base = named if named is not None else default_name(image)
    return f"{base}-{exposed}" if group and not port_named else base


def service_id(given: str | None, *, node_id: str, container: str, exposed: int, udp: bool, group: bool,
               port_specific: bool) -> str:
    """SERVICE_ID as given, else `<node-id>:<container>:<exposed-port>[:udp]`. One generic SERVICE_ID over several
    ports gets `:<port>` appended: the services of one container must not share an ID."""
    if given is None:
        return f"{node_id}:{container}:{exposed}" + (":udp" if udp else "")
    return f"{given}:{exposed}" if group and not port_specific else given


def id_problem(sid: str) -> str | None:
    """Why `sid` cannot be a service ID (None when it can)."""
    return _url_problem("service ID", sid, MAX_ID)
