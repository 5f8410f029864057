"""Hypothesis strategies for the fuzz faults, with the expectation known by construction (an oracle that never
asks the daemons' own validation): a case is drawn either from a strategy of valid values, or from one that
plants exactly one known-bad value where it takes effect.

`draw(strategy, n, seed)` runs Hypothesis' engine (no shrinking, no database) and keeps every example it
generates, so one seed always gives the same n cases and one real run can use them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

PORT = 80  # the web image's port, published by every case's container


def draw(strategy: st.SearchStrategy[Any], n: int, seed: int) -> list[Any]:
    out: list[Any] = []

    @hseed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Any) -> None:
        out.append(case)

    collect()
    return out[:n]


# --- text ------------------------------------------------------------------------------------------------
# Printable: no control characters (C0, C1, DEL), no unicode line/paragraph separators, no format characters.
# Whitespace other than the ASCII space is left out too: registrator trims tags with str.strip().
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn", "Cf", "Zl", "Zp", "Zs"))
CONTROL = st.sampled_from(["\n", "\r", "\r\n", "\x01", "\x1b", "\x0b", "\x1f"])  # NUL: Docker refuses it


def words(alphabet: st.SearchStrategy[str], max_words: int = 3, max_len: int = 12) -> st.SearchStrategy[str]:
    """Words joined by single ASCII spaces: no white space at either end."""
    return st.lists(st.text(alphabet, min_size=1, max_size=max_len), min_size=1, max_size=max_words).map(" ".join)


def with_control(value: str, ctrl: str, at: int) -> str:
    i = at % (len(value) + 1)
    return value[:i] + ctrl + value[i:]


# --- registrator labels ------------------------------------------------------------------------------------
DNS_NAME = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
TAG = words(st.one_of(PRINTABLE.filter(lambda c: c not in ",\\"), st.just(",")))  # "," is escaped as "\,"
META_KEY = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True).filter(
    lambda k: k not in ("NAME", "ID", "TAGS", "IGNORE") and not k.startswith("CHECK"))
META_VALUE = st.one_of(words(PRINTABLE, 4, 30), st.integers(200, 510).map(lambda n: "v" * n))  # Consul: <= 512
DURATION = st.one_of(
    st.tuples(st.integers(1, 600), st.sampled_from(["s", "m", "h", "ms"])).map(lambda t: f"{t[0]}{t[1]}"),
    st.tuples(st.integers(1, 59), st.integers(1, 59)).map(lambda t: f"{t[0]}m{t[1]}s"))
BAD_DURATION = st.one_of(
    st.sampled_from(["10", "abc", "5x", "5sec", "1 s", "s", "١٠s", "५m", "10s5"]),  # unicode digits: Go refuses them
    st.text(st.characters(whitelist_categories=("L",)), min_size=1, max_size=6))


@dataclass
class LabelCase:
    """One container: its SERVICE_* labels and env, and what must come of it. `bad_key` names the key holding
    the one bad value (None: a good case); the expected fields hold for good cases only."""

    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    name: str = ""
    tags: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    ttl: str | None = None
    ignore: bool = False
    bad_key: str | None = None
    why: str = "good"

    def clear(self, key: str) -> None:
        """Drop a key everywhere (generic and port-specific, label and env) before planting a bad value."""
        short = key[len("SERVICE_"):]
        for d in (self.labels, self.env):
            d.pop(key, None)
            d.pop(f"SERVICE_{PORT}_{short}", None)

    def put(self, key: str, value: str, where: str, decoy: str | None = None) -> str:
        """Set `key` so that `value` takes effect: as a label (env decoy loses), as env, or port-specific
        (generic decoy loses). Returns the key the value was written under."""
        if where == "env":
            self.env[key] = value
            return key
        if where == "port":
            short = key[len("SERVICE_"):]
            pkey = f"SERVICE_{PORT}_{short}"
            self.labels[pkey] = value
            if decoy is not None:
                self.env[key] = decoy
            return pkey
        self.labels[key] = value
        if decoy is not None:
            self.env[key] = decoy
        return key


WHERE = st.sampled_from(["label", "env", "port"])


@st.composite
def good_label_case(draw_: Any) -> LabelCase:
    c = LabelCase()
    c.name = draw_(DNS_NAME)
    c.put("SERVICE_NAME", c.name, draw_(WHERE), decoy=draw_(st.none() | DNS_NAME))
    c.tags = draw_(st.lists(TAG, max_size=4, unique_by=str.strip))
    if draw_(st.booleans()):
        c.tags.append("t" * draw_(st.integers(500, 3000)))  # a long value, within the 4 KiB limit
    if c.tags:
        text = ",".join(t.replace(",", "\\,") for t in c.tags)
        c.put("SERVICE_TAGS", text, draw_(WHERE), decoy=draw_(st.none() | TAG))
    for key in draw_(st.lists(META_KEY, max_size=4, unique=True)):
        value = draw_(META_VALUE)
        c.meta[key.lower()] = value
        c.put(f"SERVICE_{key}", value, draw_(WHERE), decoy=draw_(st.none() | META_VALUE))
    if draw_(st.booleans()):
        c.ttl = draw_(DURATION)
        c.put("SERVICE_CHECK_TTL", c.ttl, draw_(WHERE))
        interval = draw_(DURATION)
        c.put("SERVICE_CHECK_INTERVAL", interval, draw_(WHERE))
        c.meta.update(check_ttl=c.ttl, check_interval=interval)  # gliderlabs copies check keys into Meta too
    c.ignore = draw_(st.sampled_from([False] * 5 + [True]))
    if c.ignore:
        c.put("SERVICE_IGNORE", "true", draw_(WHERE))
    return c


BAD_KINDS = ("name", "control", "huge", "meta_huge", "duration", "port_key", "meta_key", "status", "http_path")


@st.composite
def bad_label_case(draw_: Any, kind: str) -> LabelCase:
    """A good case, then exactly one bad value of `kind` planted where it takes effect."""
    c = draw_(good_label_case())
    c.ignore = False
    for k in [k for k in c.labels if k.endswith("_IGNORE")]:
        del c.labels[k]
    for k in [k for k in c.env if k.endswith("_IGNORE")]:
        del c.env[k]
    where = draw_(WHERE)
    ctrl, at = draw_(CONTROL), draw_(st.integers(0, 50))
    if kind == "name":
        # Consul (and gliderlabs) take `my_service`, `api.v1`, `-x`: only what a URL cannot carry is bad
        bad = draw_(st.one_of(
            st.tuples(DNS_NAME, st.sampled_from([" ", "/", "?", "#", "%", "..", "\\"]), DNS_NAME).map("".join),
            st.integers(257, 400).map(lambda n: "n" * n)))
        c.clear("SERVICE_NAME")
        key = c.put("SERVICE_NAME", bad, where)
    elif kind == "control":
        target = draw_(st.sampled_from(["SERVICE_NAME", "SERVICE_TAGS", "SERVICE_NOTE"]))
        c.clear(target)
        key = c.put(target, with_control(draw_(DNS_NAME), ctrl, at), where)
    elif kind == "huge":
        target = draw_(st.sampled_from(["SERVICE_TAGS", "SERVICE_NOTE", "SERVICE_CHECK_HTTP"]))
        c.clear(target)
        key = c.put(target, "/" + "x" * draw_(st.integers(4096, 20000)), where)
    elif kind == "meta_huge":  # over Consul's 512-byte meta value limit, under our 4 KiB
        c.clear("SERVICE_NOTE")
        key = c.put("SERVICE_NOTE", "m" * draw_(st.integers(513, 4000)), where)
    elif kind == "duration":
        target = draw_(st.sampled_from(["SERVICE_CHECK_TTL", "SERVICE_CHECK_INTERVAL", "SERVICE_CHECK_TIMEOUT",
                                        "SERVICE_CHECK_DEREGISTER_AFTER"]))
        c.clear(target)
        key = c.put(target, draw_(BAD_DURATION), where)
    elif kind == "port_key":
        pk = draw_(st.sampled_from(["0", "65536", "99999", "8a", "80x", "123456789"]))
        key = f"SERVICE_{pk}_{draw_(st.sampled_from(['NAME', 'TAGS', 'NOTE']))}"
        (c.labels if where != "env" else c.env)[key] = draw_(DNS_NAME)
    elif kind == "meta_key":
        short = draw_(st.one_of(
            st.tuples(META_KEY, st.sampled_from([".", "!", "é", "ß", "ŉ", "@", ":"]), META_KEY).map("".join),
            st.integers(130, 300).map(lambda n: "K" * n), st.just("CONSUL-X"), st.just("PORTSIDE-NODE")))
        key = f"SERVICE_{short}"
        (c.labels if where != "env" else c.env)[key] = draw_(DNS_NAME)
    elif kind == "status":
        c.clear("SERVICE_CHECK_INITIAL_STATUS")
        key = c.put("SERVICE_CHECK_INITIAL_STATUS", draw_(st.sampled_from(["ok", "PASSING", "up", "fail"])),
                    where)
        c.put("SERVICE_CHECK_TTL", "30s", "label")
    else:
        path = draw_(st.one_of(DNS_NAME, DNS_NAME.map(lambda s: f"/{s} x")))
        c.clear("SERVICE_CHECK_HTTP")
        key = c.put("SERVICE_CHECK_HTTP", path, where)
    c.bad_key, c.why = key, kind
    return c


def label_cases(n: int, seed: int) -> list[LabelCase]:
    """n cases: half good, the rest spread evenly over the bad kinds (so each kind is there from n >= 20)."""
    good = n // 2
    per_kind = [(n - good) // len(BAD_KINDS) + (i < (n - good) % len(BAD_KINDS)) for i in range(len(BAD_KINDS))]
    cases = draw(good_label_case(), good, seed)
    for i, (kind, count) in enumerate(zip(BAD_KINDS, per_kind, strict=True)):
        if count:
            cases += draw(bad_label_case(kind), count, seed + 1 + i)
    return cases


# --- template values -------------------------------------------------------------------------------------
# The oracle for nginx: outside quotes a value is one token, so it must hold none of nginx's syntax characters
# (; { } ' " # \ and white space) nor control characters; `$` (a variable in most places) is left out of the
# safe set. Inside nginx_quote's double quotes only control characters and `$` cannot be written.
SYNTAX = ";{}'\"#\\ \t\n\r"
RAW_SAFE = words(PRINTABLE.filter(lambda c: c not in SYNTAX + "$"), 1, 40)
QUOTED_SAFE = words(PRINTABLE.filter(lambda c: c != "$"), 5, 30)
SLOTS = ("kv_raw", "kv_quoted", "tag_raw", "meta_raw", "meta_quoted", "address")
QUOTED_SLOTS = ("kv_quoted", "meta_quoted")


@dataclass
class ValueCase:
    """One value in one place of the template. `safe`: it must be rendered (exactly, or exactly quoted);
    otherwise it must never reach the live file (`why` says how it is bad)."""

    slot: str
    value: str
    safe: bool
    why: str = "safe"


def raw_bad(value: str, ch: str, at: int) -> str:
    i = at % (len(value) + 1)
    return value[:i] + ch + value[i:]


@st.composite
def value_case(draw_: Any, slot: str, safe: bool) -> ValueCase:
    if slot == "address":
        if safe:
            ip = draw_(st.ip_addresses().filter(lambda a: not a.is_unspecified))  # Consul refuses 0.0.0.0, ::
            return ValueCase(slot, str(ip), True)
        inject = draw_(st.sampled_from(["127.0.0.1:9 backup; server 127.0.0.2",  # valid nginx once rendered
                                        "198.18.0.1;\n} server { listen 9999; }", "127.0.0.1 down", "a{b}",
                                        "127.0.0.1:80;#", "'127.0.0.1'", "::1\n", "1.2.3.4\\"]))
        return ValueCase(slot, inject, False, "syntax")
    quoted = slot in QUOTED_SLOTS
    base = draw_(QUOTED_SAFE if quoted else RAW_SAFE)
    if safe:
        return ValueCase(slot, base, True)
    at = draw_(st.integers(0, 60))
    if quoted:
        kind = draw_(st.sampled_from(["control", "dollar"] + (["huge"] if slot == "kv_quoted" else [])))
        if kind == "huge":  # quotes and escapes fine, but over nginx's 4 KiB token limit: `nginx -t` refuses
            return ValueCase(slot, "h" * draw_(st.integers(4200, 9000)), False, "huge")
        ch = draw_(CONTROL) if kind == "control" else "$"
        return ValueCase(slot, raw_bad(base, ch, at), False, kind)
    if slot == "kv_raw" and draw_(st.integers(0, 5)) == 5:
        return ValueCase(slot, "", False, "empty")  # passes the renderer, `nginx -t` refuses `raw ;`
    if draw_(st.booleans()):  # an injection that is valid nginx once rendered raw: only the renderer stops it
        return ValueCase(slot, f"{base};\n    injected{at} {draw_(RAW_SAFE).split()[0]}", False, "injection")
    ch = draw_(st.one_of(st.sampled_from(list(SYNTAX)), CONTROL))
    return ValueCase(slot, raw_bad(base, ch, at), False, "syntax")


def value_cases(n: int, seed: int) -> list[ValueCase]:
    """n cases spread over the slots, half safe, half bad."""
    cases: list[ValueCase] = []
    for i, slot in enumerate(SLOTS):
        count = n // len(SLOTS) + (i < n % len(SLOTS))
        cases += draw(value_case(slot, True), count - count // 2, seed + 2 * i)
        cases += draw(value_case(slot, False), count // 2, seed + 2 * i + 1)
    return cases
