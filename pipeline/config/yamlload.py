"""YAML read with its line numbers: one parse gives the node tree (for `line_of`) and the data.

A SafeLoader that refuses duplicate keys (naming both lines), leaves dates that do not exist as
text (so validation names their field), reads plain 6e1 as a number, and refuses a file whose
aliases expand past MAX_YAML_VALUES ("billion laughs") or refer to themselves."""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_YAML_VALUES = 200_000
"""Values a config may expand to, each alias counted where it is used ("billion laughs")."""


class DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping: its dotted field and the lines of both."""

    def __init__(self, field: str, first: int, second: int):
        super().__init__(field)
        self.field, self.first, self.second = field, first, second


class TooBig(yaml.YAMLError):
    """A document that expands too far (or into itself), with the fix and the line."""

    def __init__(self, problem: str, fix: str, line: int | None = None):
        super().__init__(problem)
        self.fix, self.line = fix, line


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (naming both lines) and leaves dates that do not
    exist (2016-02-30) as text, so validation reports them with their field."""

    path: list[str]


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is not None:
            raise DuplicateKey(_key_path(loader, node, key), first, key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_yaml_map(loader, node)


def _key_path(loader: yaml.SafeLoader, mapping: yaml.MappingNode, key: Any) -> str:
    """Dotted path of `key` inside `mapping`, found from the document root."""
    root = getattr(loader, "_root", None)

    def walk(n: yaml.Node, loc: str) -> str | None:
        if n is mapping:
            return f"{loc}.{key}" if loc else str(key)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                got = walk(v, f"{loc}.{k.value}" if loc else str(k.value))
                if got:
                    return got
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                got = walk(v, f"{loc}[{i}]")
                if got:
                    return got
        return None

    return (walk(root, "") if root is not None else None) or str(key)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
# YAML 1.1 (PyYAML) reads 6e1 and 1.5e3 as text: a float needs a dot and a signed exponent.
# Plain (unquoted) scientific notation is a number, as in YAML 1.2; quoted, it stays text.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _count(node: yaml.Node) -> int:
    """Values the document expands to (aliases counted at every use); raises TooBig on a
    recursive alias or past MAX_YAML_VALUES."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(n: yaml.Node) -> int:
        k = id(n)
        if k in sizes:
            return sizes[k]
        if k in busy:
            raise TooBig(
                "an alias refers to the block that contains it (a recursive YAML alias)",
                "write the values out instead of the alias",
                n.start_mark.line + 1,
            )
        busy.add(k)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(v) for v in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(a) + size(b) for a, b in n.value)
        busy.discard(k)
        sizes[k] = total
        if total > MAX_YAML_VALUES:
            raise TooBig(
                f"the file expands to more than {MAX_YAML_VALUES:,} values (YAML aliases "
                "repeated inside each other)",
                "write the config without nested aliases",
                n.start_mark.line + 1,
            )
        return total

    size(node)
    return sizes[id(node)]


def parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data built from it, in one parse."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _count(node)
        loader._root = node  # type: ignore[attr-defined]
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    cur = node
    for part in loc:
        nxt = None
        if isinstance(cur, yaml.MappingNode):
            for k, v in cur.value:
                if k.value == part:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif (
            isinstance(cur, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(cur.value)
        ):
            nxt = cur.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        cur = nxt
    return line
