"""Package dependencies, read from the source (AST): layers point one way, no cycles.

A "package" is a sub-package of ``tahaluf`` (``storage``, ``services``...) or a
top-level module (``banks``, ``bank_io``...). Imports under ``if TYPE_CHECKING:``
count (they are dependencies all the same). Each allow-list below names what
is still tolerated and why; an entry that is no longer needed fails the test,
so the lists only shrink.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "tahaluf"

#: service modules that still import storage directly: module -> why. Empty:
#: services reach storage only through tahaluf.ports (bootstrap builds the ports)
SERVICES_STILL_ON_STORAGE: dict[str, str] = {}

#: adapters (CLI, API) that still import storage: module -> why
ADAPTERS_STILL_ON_STORAGE: dict[str, str] = {
    "tahaluf.cli.bank": "get_store: opens the store that bank, scan and lookup commands work on",
    "tahaluf.cli.hub_cmd": "opens the store for the webhook deliverer (`webhooks deliver`)",
    "tahaluf.cli.main": "resolve_url and sqlite_path for --create (the folder of the SQLite file)",
}

#: package cycles still present: (a, b) -> why; each is closed by another part of issue 10
KNOWN_CYCLES: dict[tuple[str, str], str] = {}

#: module cycles still present (each group imports itself round), closed by other parts of issue 10
KNOWN_MODULE_CYCLES: dict[frozenset[str], str] = {}

#: imports inside functions: (module, imported module) -> why it is not at the top
FUNCTION_IMPORTS: dict[tuple[str, str], str] = {
    # heavy or optional libraries, loaded only by what needs them (times: on top of `import tahaluf.cli.main`)
    ("tahaluf.signals.pdf", "pypdf"): "lazy: pypdf (~180 ms) only when a PDF is read",
    ("tahaluf.signals.pdf", "pypdf.errors"): "lazy: pypdf (~180 ms) only when a PDF is read",
    ("tahaluf.signals.pdf", "pypdf.generic"): "lazy: pypdf (~180 ms) only when a PDF is read",
    ("tahaluf.index.pdq", "tahaluf.index.pdq_kernels"): "optional: only after native_available() (numba may be missing)",
    ("tahaluf.index.pdq_segment", "tahaluf.index.pdq_kernels"): "optional: numba may be missing (then the numpy scan)",
}

#: the layers (package -> packages it must never import)
FORBIDDEN: dict[str, set[str]] = {
    "ports": {"storage", "api", "cli", "services", "bootstrap"},
    "storage": {"api", "cli", "services", "bootstrap"},
    "services": {"api", "cli", "bootstrap"},
    "signals": {"storage", "services", "api", "cli", "ports", "index", "bootstrap"},
    "index": {"storage", "services", "api", "cli", "ports", "bootstrap"},
    "signal_types": {"storage", "services", "api", "cli", "bootstrap", "formats"},
    "wire": {"storage", "api", "cli", "bootstrap"},
    "formats": {"storage", "services", "api", "cli", "bootstrap"},
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package, for ``from pkg import name``)
    in_function: bool
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tahaluf"


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.depth = 0
        self.found: list[Import] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.module.split(".")
            base = parts if self.is_package else parts[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        submodules = [f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")]
        for name in submodules or [target]:
            self._add(name, node)

    def _add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, self.depth > 0, node.lineno))


@cache
def _imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        collector = _Collector(_module_name(path), path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found.extend(collector.found)
    return tuple(found)


def _project_imports() -> list[Import]:
    return [i for i in _imports() if i.target == "tahaluf" or i.target.startswith("tahaluf.")]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in _project_imports():
        a, b = _package(imp.module), _package(imp.target)
        if a != b and b != "tahaluf":  # `from tahaluf import x` resolves to x when x is a module
            graph[a].add(b)
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Every pair of packages that reach each other (sorted pairs)."""
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        reach[start] = seen
    pairs = {(a, b) if a < b else (b, a) for a in reach for b in reach[a] if a != b and a in reach.get(b, ())}
    return pairs


def test_the_collector_sees_real_imports() -> None:
    """Guard against a test that passes because it reads nothing."""
    edges = {(i.module, i.target) for i in _project_imports()}
    assert ("tahaluf.storage.models", "tahaluf.ports.vocabulary") in edges
    assert ("tahaluf.storage.repository.sql", "tahaluf.storage.repository.banks_sql") in edges
    assert len(edges) > 200


def test_no_cycles_between_packages() -> None:
    cycles = _cycles(_graph())
    unexpected = sorted(cycles - set(KNOWN_CYCLES))
    assert not unexpected, f"packages that import each other: {unexpected}"
    stale = sorted(set(KNOWN_CYCLES) - cycles)
    assert not stale, f"KNOWN_CYCLES entries no longer needed (remove them): {stale}"


def test_layers_import_only_downwards() -> None:
    wrong = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in _project_imports()
        if _package(i.target) in FORBIDDEN.get(_package(i.module), set())
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def _on_storage(prefixes: tuple[str, ...]) -> set[str]:
    return {
        i.module for i in _project_imports()
        if i.module.startswith(prefixes) and _package(i.target) == "storage"
    }


def test_services_reach_storage_only_through_the_allow_list() -> None:
    on_storage = _on_storage(("tahaluf.services.",))
    assert not on_storage - set(SERVICES_STILL_ON_STORAGE), (
        f"services importing storage (use tahaluf.ports): {sorted(on_storage - set(SERVICES_STILL_ON_STORAGE))}"
    )
    stale = sorted(set(SERVICES_STILL_ON_STORAGE) - on_storage)
    assert not stale, f"SERVICES_STILL_ON_STORAGE entries no longer needed (remove them): {stale}"


def test_adapters_reach_storage_only_through_the_allow_list() -> None:
    on_storage = _on_storage(("tahaluf.cli.", "tahaluf.api.", "tahaluf.cli", "tahaluf.api"))
    assert not on_storage - set(ADAPTERS_STILL_ON_STORAGE), (
        f"CLI/API modules importing storage (call a service): {sorted(on_storage - set(ADAPTERS_STILL_ON_STORAGE))}"
    )
    stale = sorted(set(ADAPTERS_STILL_ON_STORAGE) - on_storage)
    assert not stale, f"ADAPTERS_STILL_ON_STORAGE entries no longer needed (remove them): {stale}"


def test_imports_inside_functions_are_listed_with_a_reason() -> None:
    found = {(i.module, i.target) for i in _imports() if i.in_function}
    unlisted = sorted(found - set(FUNCTION_IMPORTS))
    assert not unlisted, (
        "imports inside functions (move them to the top, or list them in FUNCTION_IMPORTS with the reason): "
        f"{unlisted}"
    )
    stale = sorted(set(FUNCTION_IMPORTS) - found)
    assert not stale, f"FUNCTION_IMPORTS entries no longer needed (remove them): {stale}"
    assert all(reason.strip() for reason in FUNCTION_IMPORTS.values())


def _module_cycles() -> set[frozenset[str]]:
    """The strongly connected groups (of two or more modules) of the module import graph."""
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in _project_imports():
        if imp.module != imp.target:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: set[frozenset[str]] = set()

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                top = stack.pop()
                group.add(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.add(frozenset(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_cycles_between_modules() -> None:
    """Also those hidden in function-level imports (storage's sql -> feedback_sql -> hub_sql -> sql is gone)."""
    cycles = _module_cycles()
    unexpected = sorted(sorted(c) for c in cycles - set(KNOWN_MODULE_CYCLES))
    assert not unexpected, f"modules that import each other: {unexpected}"
    stale = sorted(sorted(c) for c in set(KNOWN_MODULE_CYCLES) - cycles)
    assert not stale, f"KNOWN_MODULE_CYCLES entries no longer needed (remove them): {stale}"
