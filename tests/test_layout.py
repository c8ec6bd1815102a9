"""The import graph runs one way: no module of the package imports, even lazily, a module that
imports it back (checked between the top-level modules and subpackages)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "swiftsampler"


def _imports() -> dict[str, set[str]]:
    """``unit -> units it imports`` where a unit is a top-level module or subpackage."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        package = parts[:-1] if path.name != "__init__.py" else parts[:-1]
        unit = parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if target and target[0] != unit:
                    edges.setdefault(unit, set()).add(target[0])
    return edges


def test_no_import_cycle_between_the_parts_of_the_package():
    edges = _imports()

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(unit for unit in edges if unit in reachable(unit))
    assert not cycles, f"import cycles through {cycles}"
    assert "engine" in reachable("search") and "search" not in reachable("engine")
    assert "sampling" in reachable("integration") and "integration" not in reachable("data")
