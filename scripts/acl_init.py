"""acl-init: the compose stack makes its own Consul ACLs on the first `up` and checks them on every later one.

The one-shot `acl-init` service of compose/docker-compose.yml runs this with the Consul image's python3 (stdlib
only, no portside package there):

1. bootstrap the ACL system with a management secret made here and kept in acl-init's own volume (never
   printed, never handed to a daemon);
2. create or update one policy per daemon from compose/acl/<daemon>.hcl, and the agent's own policy
   (compose/acl/consul-agent.hcl);
3. one token per daemon, its accessor and secret made once and kept; each secret is written to
   /tokens/<daemon>/token, a volume that only that daemon mounts (read-only), readable by the daemons' group;
4. give the agent its token (/v1/agent/token/agent; the agent persists it: enable_token_persistence);
5. put the demo's first settings into KV (SEEDS), only where the key does not exist yet.

A second run finds everything in place, changes nothing but a policy whose file changed, and exits 0; a token
file that went missing is written again. Exit 1 with a message naming what failed.
The HTTP API rather than the consul CLI: one interpreter and a dozen requests take well under a second, where
a dozen CLI starts took 3-5 s on the 2-core machine, and this runs on every `up`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

STATE = Path(os.environ.get("ACL_INIT_STATE", "/var/lib/portside-acl"))
RULES = Path(os.environ.get("ACL_INIT_RULES", "/etc/portside/acl"))
TOKENS = Path(os.environ.get("ACL_INIT_TOKENS", "/tokens"))
DAEMONS = ("registrator", "dns-balancer", "consul-templates", "greeter")
# The demo's first settings, written only where the key does not exist yet (cas=0): a value set since is kept.
SEEDS = {"portside/greeter/greeting": "hello from Consul"}
DAEMON_GID = 10001  # the portside image's user and group
AGENT = "consul-agent"
READY_WITHIN = 90.0


class InitError(Exception):
    """What acl-init could not do; the message is the whole story."""


def say(message: str) -> None:
    print(f"acl-init: {message}", file=sys.stderr, flush=True)


def kept(name: str) -> str:
    """A UUID made on the first run and kept in acl-init's volume (secrets and accessor IDs)."""
    path = STATE / name
    if not path.exists() or not path.read_text().strip():
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(str(uuid.uuid4()))
        tmp.replace(path)
    return path.read_text().strip()


class Consul:
    def __init__(self, address: str, token: str) -> None:
        self.base = address if "://" in address else f"http://{address}"
        self.token = token

    def call(self, method: str, path: str, body: object = None, token: str | None = None) -> tuple[int, Any]:
        """(status, decoded body); HTTP errors are answers here, not exceptions."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"X-Consul-Token": self.token if token is None else token})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw.strip() else None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace").strip()

    def must(self, method: str, path: str, body: object = None) -> Any:
        status, answer = self.call(method, path, body)
        if status != 200:
            raise InitError(f"{method} {path}: {status} {answer}")
        return answer


def bootstrap(consul: Consul) -> None:
    """Bootstrap with our own management secret, or find it already in place; wait for a leader meanwhile."""
    deadline = time.monotonic() + READY_WITHIN
    while True:
        try:
            if consul.call("GET", "/v1/acl/token/self")[0] == 200:
                say("ACLs already bootstrapped by acl-init")
                return
            status, answer = consul.call("PUT", "/v1/acl/bootstrap", {"BootstrapSecret": consul.token}, token="")
        except (urllib.error.URLError, OSError) as exc:
            status, answer = 0, str(exc)
        if status == 200:
            say("ACLs bootstrapped")
            return
        if status == 403 and "no longer allowed" in str(answer):
            raise InitError("Consul's ACLs were bootstrapped with a management token acl-init does not hold (was "
                            "its volume removed?); remove the stack with its volumes (docker compose down -v) and "
                            "start again")
        if time.monotonic() > deadline:
            raise InitError(f"Consul not ready for ACL bootstrap after {READY_WITHIN:.0f} s: {status} {answer}")
        time.sleep(0.2)


def ensure_policy(consul: Consul, name: str, rules_file: Path) -> None:
    rules = rules_file.read_text()
    status, policy = consul.call("GET", f"/v1/acl/policy/name/{urllib.parse.quote(name)}")
    if status != 200:  # Consul answers 403 "ACL not found" for a policy that does not exist
        consul.must("PUT", "/v1/acl/policy", {"Name": name, "Rules": rules})
        say(f"policy {name} created from {rules_file.name}")
    elif policy["Rules"] != rules:
        consul.must("PUT", f"/v1/acl/policy/{policy['ID']}", {"ID": policy["ID"], "Name": name, "Rules": rules})
        say(f"policy {name} updated from {rules_file.name}")


def ensure_token(consul: Consul, who: str, policy: str) -> str:
    """The token of `who` carrying exactly `policy`; returns its secret."""
    accessor, secret = kept(f"{who}.accessor"), kept(f"{who}.secret")
    body = {"AccessorID": accessor, "SecretID": secret, "Description": f"portside {who}",
            "Policies": [{"Name": policy}]}
    status, token = consul.call("GET", f"/v1/acl/token/{accessor}")
    if status != 200:
        consul.must("PUT", "/v1/acl/token", body)
        say(f"token for {who} created (policy {policy})")
    elif [p["Name"] for p in token.get("Policies") or []] != [policy]:
        consul.must("PUT", f"/v1/acl/token/{accessor}", body)
        say(f"token for {who} set back to policy {policy} alone")
    return secret


def hand_out(who: str, secret: str) -> None:
    """/tokens/<who>/token, replaced atomically, left alone when unchanged. Owner root (acl-init has no
    CAP_DAC_OVERRIDE, so it reads the file as its owner on the next run), group the daemons' gid, mode 0440."""
    path = TOKENS / who / "token"
    if path.exists() and path.read_text() == secret:
        return
    tmp = path.with_name("token.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o440)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    os.chown(tmp, 0, DAEMON_GID)
    tmp.replace(path)
    say(f"token file for {who} written")


def main() -> int:
    consul = Consul(os.environ.get("CONSUL_HTTP_ADDR", "consul:8500"), kept("management.secret"))
    try:
        bootstrap(consul)
        ensure_policy(consul, f"portside-{AGENT}", RULES / f"{AGENT}.hcl")
        consul.must("PUT", "/v1/agent/token/agent", {"Token": ensure_token(consul, AGENT, f"portside-{AGENT}")})
        for daemon in DAEMONS:
            ensure_policy(consul, f"portside-{daemon}", RULES / f"{daemon}.hcl")
            hand_out(daemon, ensure_token(consul, daemon, f"portside-{daemon}"))
        for key, value in SEEDS.items():
            if consul.call("PUT", f"/v1/kv/{key}?cas=0", value.encode())[1] is True:
                say(f"{key} set to its first value")
    except (InitError, OSError) as exc:
        say(str(exc))
        return 1
    say("ready: one token per daemon, anonymous requests denied")
    return 0


if __name__ == "__main__":
    sys.exit(main())
