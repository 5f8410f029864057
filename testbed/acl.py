"""Consul ACLs for the harness: a dev agent with ACLs on (default deny) and one token per daemon.

The rules are the files portside ships, compose/acl/<daemon>.hcl, so every ACL run checks them. `ConsulAgent`
(testbed/engines.py) turns this on with `acl=True`, or for every agent when PORTSIDE_CONSUL_ACL=1 (how
`make test` runs the integration suite a second time):

    agent = engines.ConsulAgent(acl=True).start()
    agent.api("/v1/agent/services")                  # the harness's own calls: the management token
    agent.env_for("registrator")                     # CONSUL_HTTP_ADDR + the registrator's own token
"""

from __future__ import annotations

import os
import urllib.error
import uuid
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "compose" / "acl"
DAEMONS = ("registrator", "dns-balancer", "consul-templates")


class Agent(Protocol):
    management_token: str
    tokens: dict[str, str]

    def api(self, path: str, method: str = ..., body: object = ..., token: str | None = ...) -> Any: ...


def from_env() -> bool:
    """PORTSIDE_CONSUL_ACL=1: every ConsulAgent the harness starts has ACLs on."""
    return os.environ.get("PORTSIDE_CONSUL_ACL", "").strip().lower() in {"1", "true", "yes", "on"}


def agent_config(management: str) -> str:
    """The agent's ACL block. The agent's own token (node registration, anti-entropy) is the management
    token here: this is a throw-away dev agent; a real agent gets a token with node:write on its name."""
    return (
        "acl {\n  enabled = true\n  default_policy = \"deny\"\n"
        "  enable_token_persistence = false\n"
        f"  tokens {{\n    initial_management = \"{management}\"\n    agent = \"{management}\"\n  }}\n}}\n"
    )


def policy_rules(daemon: str) -> str:
    return (POLICY_DIR / f"{daemon}.hcl").read_text()


def create_policy(agent: Agent, name: str, rules: str) -> str:
    """A policy with these rules; returns its ID."""
    return str(agent.api("/v1/acl/policy", "PUT", {"Name": name, "Rules": rules})["ID"])


def update_policy(agent: Agent, policy_id: str, name: str, rules: str) -> None:
    """Change a policy's rules at runtime: tokens using it get the new rights at once."""
    agent.api(f"/v1/acl/policy/{policy_id}", "PUT", {"ID": policy_id, "Name": name, "Rules": rules})


def set_rules(agent: Agent, daemon: str, rules: str | None = None) -> None:
    """Give the daemon's policy other rules at runtime (None: the shipped file again)."""
    name = f"portside-{daemon}"
    policy = agent.api(f"/v1/acl/policy/name/{name}")
    update_policy(agent, policy["ID"], name, policy_rules(daemon) if rules is None else rules)


def create_token(agent: Agent, policy_id: str, description: str, secret: str | None = None) -> str:
    """A token carrying one policy; returns its secret (a fixed one when given, so it survives re-creation)."""
    body: dict[str, Any] = {"Description": description, "Policies": [{"ID": policy_id}]}
    if secret:
        body["SecretID"] = secret
    return str(agent.api("/v1/acl/token", "PUT", body)["SecretID"])


def provision(agent: Agent) -> dict[str, str]:
    """Create the three shipped policies and one token per daemon. Idempotent, and the secrets are kept across
    calls: a restarted dev agent (which forgets every token) gives the running daemons their tokens back."""
    policies = {daemon: _ensure_policy(agent, f"portside-{daemon}", policy_rules(daemon)) for daemon in DAEMONS}
    for daemon in DAEMONS:
        agent.tokens[daemon] = _ensure_token(agent, policies[daemon], agent.tokens.get(daemon),
                                             f"portside {daemon} (compose/acl/{daemon}.hcl)")
    # Consul's own DNS interface reads with the agent's DNS token: the same rights as dns-balancer, so tests
    # can compare the two answers. A token of its own, never one of the daemons'.
    agent.tokens["consul-dns"] = _ensure_token(agent, policies["dns-balancer"], agent.tokens.get("consul-dns"),
                                               "the agent's own DNS interface (dns-balancer's rules)")
    agent.api("/v1/agent/token/dns", "PUT", {"Token": agent.tokens["consul-dns"]})
    return dict(agent.tokens)


def _ensure_policy(agent: Agent, name: str, rules: str) -> str:
    try:
        policy_id = str(agent.api(f"/v1/acl/policy/name/{name}")["ID"])
    except urllib.error.HTTPError as exc:
        if exc.code != 403 and exc.code != 404:
            raise
        return create_policy(agent, name, rules)
    update_policy(agent, policy_id, name, rules)
    return policy_id


def _ensure_token(agent: Agent, policy_id: str, secret: str | None, description: str) -> str:
    if secret:
        try:
            agent.api("/v1/acl/token/self", token=secret)
            return secret  # still known (an agent that kept its state)
        except urllib.error.HTTPError as exc:
            if exc.code != 403 and exc.code != 404:
                raise
    return create_token(agent, policy_id, description, secret or str(uuid.uuid4()))
