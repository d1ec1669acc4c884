"""Every `pipeline.…` name that a docstring or a comment in pipeline/ (or the README) mentions
names a module or an attribute that exists: a module moved or renamed takes its mentions along."""

from __future__ import annotations

import ast
import importlib
import io
import re
import tokenize
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOTTED = re.compile(r"(?<![\w.])pipeline(?:\.[A-Za-z_]\w*)+")


def _docstrings(tree: ast.Module) -> list[tuple[int, str]]:
    """String statements: module, class and function docstrings and attribute docstrings."""
    return [
        (node.lineno, node.value.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]


def _comments(text: str) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]


def mentions() -> list[tuple[str, int, str]]:
    """(file, line, dotted name) of every mention in pipeline/**/*.py and README.md."""
    found = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(ROOT))
        for line, chunk in _docstrings(ast.parse(text)) + _comments(text):
            for m in DOTTED.finditer(chunk):
                found.append((rel, line + chunk[: m.start()].count("\n"), m.group()))
    for n, text in enumerate((ROOT / "README.md").read_text(encoding="utf-8").splitlines(), 1):
        found += [("README.md", n, m.group()) for m in DOTTED.finditer(text)]
    return found


def _has(obj: object, name: str) -> tuple[bool, object]:
    if hasattr(obj, name):
        return True, getattr(obj, name)
    # a dataclass or pydantic field without a default is not a class attribute
    fields = {
        *getattr(obj, "__dataclass_fields__", {}),
        *getattr(obj, "model_fields", {}),
        *getattr(obj, "__annotations__", {}),
    }
    return name in fields, None


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    module: ModuleType | None = None
    n = len(parts)
    while n > 0:
        try:
            module = importlib.import_module(".".join(parts[:n]))
            break
        except ModuleNotFoundError as exc:
            if exc.name is None or not ".".join(parts[:n]).startswith(exc.name):
                raise  # the module exists but an import inside it failed
            n -= 1
    obj: object = module
    for name in parts[n:]:
        ok, obj = _has(obj, name)
        if not ok:
            return False
    return True


def test_every_dotted_pipeline_name_in_docs_resolves() -> None:
    found = mentions()
    assert len(found) > 20, "the scan should find the package's many cross-references"
    known: dict[str, bool] = {}
    broken = [
        f"{path}:{line}: {name}"
        for path, line, name in found
        if not known.setdefault(name, resolves(name))
    ]
    assert not broken, "names that no module or attribute has:\n" + "\n".join(broken)
