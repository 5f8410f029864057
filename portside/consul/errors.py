"""Every way a Consul call can fail, as one family of exceptions whose text says what was attempted and why.

The adapter lets nothing else out: a refused connection, a reset in the middle of a body, invalid JSON or
UTF-8, a missing or bogus X-Consul-Index, a 5xx or a redirect all become a `ConsulError` subclass, so a caller's
`except ConsulError` is the whole story and a retry loop never dies of a surprise type.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import aiohttp


class ConsulError(Exception):
    """A Consul call failed; the message names the call and says why. `status`: the HTTP status when Consul
    answered one (e.g. 429 for its per-client connection limit), else None."""

    def __init__(self, what: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{what}: {message}")
        self.status = status


class ConsulUnreachable(ConsulError):
    """No answer from the agent at the configured address (refused, reset, timed out)."""


class ConsulPermissionDenied(ConsulError):
    """403: the token lacks a right for this call."""


class ConsulRejected(ConsulError):
    """4xx: Consul refused the request (bad definition, unknown ID); the message carries Consul's reason."""


class ConsulBadValue(ConsulRejected):
    """A caller-supplied value cannot be put into a request (e.g. `..` as a service ID): refused before sending."""


class ConsulBadAnswer(ConsulError):
    """Consul (or something in between) answered what cannot be used: cut off, not JSON, not UTF-8, bad index."""


# The ACL right each call needs, named in permission errors.
_RIGHTS = {
    "register service": "service:write on the service name",
    "deregister service": "service:write on the service name",
    "set service maintenance": "service:write on the service name",
    "list agent services": "service:read",
    "update TTL check": "service:write on the check's service",
    "list catalog services": "service:read and node:read",
    "read service health": "service:read and node:read",
    "read nodes": "node:read",
    "list prepared queries": "query:read on the query names",
}
# The same by path, for blocking queries named otherwise (consul-templates names them after the template call).
_PATH_RIGHTS = (
    ("/v1/kv/", "key:read on the key"),
    ("/v1/health/service/", "service:read and node:read"),
    ("/v1/catalog/services", "service:read and node:read"),
    ("/v1/catalog/nodes", "node:read"),
)


def right(what: str, path: str = "") -> str:
    """The ACL right a call needs, for messages."""
    return _RIGHTS.get(what) or next((r for p, r in _PATH_RIGHTS if path.startswith(p)), "the matching ACL right")


def transport_error(exc: BaseException, what: str, address: str) -> ConsulError:
    """An exception raised while sending a request or reading its answer -> the ConsulError to raise."""
    if isinstance(exc, TimeoutError):
        return ConsulUnreachable(what, f"Consul at {address} did not answer in time")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ConsulBadAnswer(what, f"the answer from Consul at {address} was cut off or malformed: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        return ConsulBadAnswer(what, f"Consul at {address} sent a malformed HTTP answer: {exc.message or exc}")
    if isinstance(exc, aiohttp.ClientConnectionError | OSError | ssl.SSLError):
        return ConsulUnreachable(what, f"cannot reach Consul at {address}: {exc or type(exc).__name__}")
    return ConsulError(what, f"request to Consul at {address} failed: {type(exc).__name__}: {exc}")


def status_error(status: int, body: bytes, what: str, path: str, address: str) -> ConsulError | None:
    """A non-200 status -> the ConsulError to raise (None for 200). Consul's own reason is kept, shortened."""
    if status == 200:
        return None
    reason = body[:300].decode("utf-8", errors="replace").strip() or "(no reason given)"
    if status == 403:
        return ConsulPermissionDenied(
            what, f"permission denied by Consul at {address}: the token lacks {right(what, path)} ({reason})", 403)
    if 300 <= status < 400:  # never followed: a redirect would send the request somewhere we did not name
        return ConsulRejected(what, f"Consul at {address} answered {status} (a redirect, not followed)", status)
    if status == 404:
        return ConsulRejected(what, f"not found: {status} {reason}", status)
    if 400 <= status < 500:
        return ConsulRejected(what, f"Consul refused the request: {status} {reason}", status)
    return ConsulError(what, f"Consul at {address} failed: {status} {reason}", status)


def response_code(exc: ConsulError) -> str:
    """For metrics: the HTTP status behind an error ("429": Consul's per-client connection limit), else
    "unreachable" (no answer) or "error" (an answer that could not be used)."""
    if exc.status is not None:
        return str(exc.status)
    return "unreachable" if isinstance(exc, ConsulUnreachable) else "error"


def parse_index(headers: Mapping[str, str], what: str, address: str) -> int:
    """X-Consul-Index as a non-negative integer; anything else is a bad answer (it would corrupt a watch)."""
    raw = headers.get("X-Consul-Index")
    if raw is None:
        raise ConsulBadAnswer(what, f"Consul at {address} sent no X-Consul-Index")
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ConsulBadAnswer(what, f"Consul at {address} sent a bad X-Consul-Index {raw[:40]!r}")
    return int(text)
