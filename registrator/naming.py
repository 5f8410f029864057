"""Pure: the name and the ID of one service, each a stage of its own, and the rule for what an ID may hold.

An ID travels into Consul's URLs (`/v1/agent/service/deregister/<id>`, `/maintenance/<id>`, the check IDs
`<id>:ttl` in `/v1/agent/check/pass/<id>:ttl`), so one taken from a label is held to what is safe there: no `/`
or `\\` (another path), no `..` (`../../leave` would turn a deregistration into `PUT /v1/agent/leave`), no `?`,
`#` or `%` (a query, a fragment, an escape), no white space or control characters, at most MAX_ID bytes."""

from __future__ import annotations

import re

MAX_ID = 256  # bytes; Consul sets no limit, but an ID is repeated in every check ID and URL of the service
_DNS_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_UNSAFE_IN_ID = set("/\\?#%")


def default_name(image: str) -> str:
    """The image's base name without registry, tag or digest, made a DNS label."""
    base = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", base).strip("-")[:63].strip("-")
    return cleaned or "service"


def name_problem(name: str) -> str | None:
    if not _DNS_LABEL.match(name):
        return "service name must be a DNS label (letters, digits, '-', max 63)"
    return None


def service_name(named: str | None, image: str, exposed: int, *, group: bool, port_named: bool) -> str:
    """SERVICE_NAME (or SERVICE_<port>_NAME) as given, else the image's name; with several ports, a name that is
    not port-specific gets `-<port>` so each port is a service of its own."""
    if named is not None:
        return f"{named}-{exposed}" if group and not port_named else named
    return default_name(image) + (f"-{exposed}" if group else "")


def service_id(given: str | None, *, node_id: str, container: str, exposed: int, udp: bool, group: bool,
               port_specific: bool) -> str:
    """SERVICE_ID as given, else `<node-id>:<container>:<exposed-port>[:udp]`. One generic SERVICE_ID over several
    ports gets `:<port>` appended: the services of one container must not share an ID."""
    if given is None:
        return f"{node_id}:{container}:{exposed}" + (":udp" if udp else "")
    return f"{given}:{exposed}" if group and not port_specific else given


def id_problem(sid: str) -> str | None:
    """Why `sid` cannot be a service ID (None when it can)."""
    if not sid:
        return "service ID is empty"
    if len(sid.encode()) > MAX_ID:
        return f"service ID longer than {MAX_ID} bytes"
    if ".." in sid:
        return "service ID must not contain '..' (it is part of Consul's URLs)"
    bad = sorted(_UNSAFE_IN_ID.intersection(sid))
    if bad:
        return f"service ID must not contain {' '.join(repr(c) for c in bad)} (it is part of Consul's URLs)"
    if any(c.isspace() or not c.isprintable() for c in sid):
        return "service ID must not contain white space or control characters"
    return None
