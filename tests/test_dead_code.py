"""No dead code: every name defined at the top of a module (or in a class) is used somewhere."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: where a use counts: the package, its tests, benchmarks and scripts
USED_IN = ("src", "tests", "bench", "scripts")
#: methods a framework calls by name (SQLAlchemy's TypeDecorator)
HOOKS = {"process_bind_param", "process_result_value"}


def _defined(tree: ast.Module) -> list[tuple[str, int]]:
    """Top-level functions, classes and constants, and methods; decorated ones are used by
    their decorator (routes, commands, validators)."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and not node.decorator_list:
            out.append((node.name, node.lineno))
        if isinstance(node, ast.ClassDef):
            out += [(sub.name, sub.lineno) for sub in node.body
                    if isinstance(sub, ast.FunctionDef) and not sub.decorator_list and not sub.name.startswith("__")]
        if isinstance(node, ast.Assign):
            out += [(t.id, node.lineno) for t in node.targets if isinstance(t, ast.Name)]
    return [(name, line) for name, line in out if not name.startswith("__") and name not in HOOKS]


def test_every_defined_name_is_used():
    files = [p for d in USED_IN for p in (ROOT / d).rglob("*.py") if ".egg-info" not in str(p)]
    words = Counter(re.findall(r"\w+", "\n".join(p.read_text(encoding="utf-8") for p in files)))
    unused = []
    for path in sorted((ROOT / "src" / "tahaluf").rglob("*.py")):
        for name, line in _defined(ast.parse(path.read_text(encoding="utf-8"))):
            if words[name] <= 1:
                unused.append(f"{path.relative_to(ROOT)}:{line} {name}")
    assert not unused, "defined but never used:\n" + "\n".join(unused)

