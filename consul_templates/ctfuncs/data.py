"""consul-template's data functions (`service`, `key`, `ls`, ...) over a `Source`, one set per render.

As in consul-template (template/funcs.go), each call names its query, records it as used, and before the
query has answered returns an empty value of the right type (the render is then incomplete and not
written). `key` of a key that does not exist blocks the render until the key exists; `keyOrDefault` and
`keyExists` do not; `safeLs`/`safeTree` block on an empty prefix where `ls`/`tree` render nothing.
"""

from __future__ import annotations

from typing import Any

from consul_templates.ctfuncs.queries import (
    DatacentersQuery,
    KeyQuery,
    NodeQuery,
    NodesQuery,
    PrefixQuery,
    ServiceQuery,
    ServicesQuery,
)
from consul_templates.ctfuncs.source import ABSENT, Source
from consul_templates.ctfuncs.types import CatalogNode, KeyPair
from portside.gotemplate import GoSlice


def _slice(items: Any, elem: str) -> GoSlice:
    return GoSlice(items, elem=elem)


class DataFuncs:
    """The functions bound to one render's Source."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def service(self, *args: str) -> GoSlice:
        if not args or args[0] == "":
            return _slice((), "*dependency.HealthService")
        value = self.source.recall(ServiceQuery.parse("|".join(args)))
        return _slice(() if value is ABSENT else value, "*dependency.HealthService")

    def services(self, *args: str) -> GoSlice:
        value = self.source.recall(ServicesQuery.parse("".join(args)))
        return _slice(() if value is ABSENT else value, "*dependency.CatalogSnippet")

    def nodes(self, *args: str) -> GoSlice:
        value = self.source.recall(NodesQuery.parse("".join(args)))
        return _slice(() if value is ABSENT else value, "*dependency.Node")

    def node(self, *args: str) -> CatalogNode | None:
        value = self.source.recall(NodeQuery.parse("".join(args)))
        return None if value is ABSENT else value  # type: ignore[no-any-return]

    def datacenters(self, *ignore: bool) -> GoSlice:
        if len(ignore) > 1:
            raise ValueError(f"datacenters: wrong number of arguments, expected 0 or 1, but got {len(ignore)}")
        value = self.source.recall(DatacentersQuery())
        return _slice(() if value is ABSENT else value, "string")

    def key(self, path: str) -> str:
        if path == "":
            return ""
        query = KeyQuery.parse(path)
        value = self.source.recall(query)
        if value is None:
            self.source.block(query)
        return "" if value is ABSENT or value is None else value  # type: ignore[no-any-return]

    def key_exists(self, path: str) -> bool:
        if path == "":
            return False
        value = self.source.recall(KeyQuery.parse(path))
        return value is not ABSENT and value is not None

    def key_or_default(self, path: str, default: str) -> str:
        if path == "":
            return default
        value = self.source.recall(KeyQuery.parse(path))
        return default if value is ABSENT or value is None or value == "" else value  # type: ignore[no-any-return]

    def _pairs(self, prefix: str, safe: bool, keep: Any) -> GoSlice:
        if prefix == "":
            return _slice((), "*dependency.KeyPair")
        query = PrefixQuery.parse(prefix)
        value = self.source.recall(query)
        if value is ABSENT:
            return _slice((), "*dependency.KeyPair")
        result = [p for p in value if keep(p)]
        if not result and safe:
            self.source.block(query)
        return _slice(result, "*dependency.KeyPair")

    def ls(self, prefix: str) -> GoSlice:
        return self._pairs(prefix, False, _top_level)

    def safe_ls(self, prefix: str) -> GoSlice:
        return self._pairs(prefix, True, _top_level)

    def tree(self, prefix: str) -> GoSlice:
        return self._pairs(prefix, False, _leaf)

    def safe_tree(self, prefix: str) -> GoSlice:
        return self._pairs(prefix, True, _leaf)


def _top_level(p: KeyPair) -> bool:
    return p.Key != "" and "/" not in p.Key


def _leaf(p: KeyPair) -> bool:
    return p.Key.rsplit("/", 1)[-1] != ""
