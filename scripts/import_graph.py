"""The import graph of `pipeline/`: every `pipeline.*` import, top-level or inside a function,
with the cycles it contains and the imports made inside functions. Exit 1 if there is a cycle
or a function-level import of `pipeline.*`.

    .venv/bin/python scripts/import_graph.py [--edges]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "pipeline"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(name: str, modules: set[str]) -> str | None:
    """The module a dotted import names (a symbol import resolves to its module)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    files = sorted(PKG.rglob("*.py"))
    modules = {module_name(f) for f in files}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    inner: list[tuple[str, int, str]] = []
    for f in files:
        mod = module_name(f)
        tree = ast.parse(f.read_text(encoding="utf-8"))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                target = resolve(n, modules)
                if target is None or target == mod:
                    continue
                edges[mod].add(target)
                if id(node) not in top and not _type_checking_only(tree, node):
                    inner.append((str(f.relative_to(ROOT)), node.lineno, target))
    return edges, inner


def _type_checking_only(tree: ast.Module, node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.If)
        and "TYPE_CHECKING" in ast.unparse(n.test)
        and any(node is x for x in ast.walk(n))
        for n in tree.body
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    edges, inner = graph()
    if "--edges" in sys.argv:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m])) or '-'}")
    found = cycles(edges)
    for c in found:
        print("cycle:", " <-> ".join(c))
    for f, line, target in inner:
        print(f"function-level import: {f}:{line} {target}")
    n = sum(len(v) for v in edges.values())
    print(f"{len(edges)} modules, {n} imports, {len(found)} cycles, {len(inner)} inside functions")
    return 1 if found or inner else 0


if __name__ == "__main__":
    sys.exit(main())
