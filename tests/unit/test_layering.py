"""The shared library sits below the services: no module of ``services/borderbus`` imports a service
package or the command line composed on top of them, not even lazily inside a function, so the library
stays a base every service builds on without pulling in the others."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "services" / "borderbus"
ABOVE_THE_LIBRARY = frozenset(
    {"borderbus_agency", "borderbus_correlator", "borderbus_desk", "borderbus_simulator", "borderbus_demo", "borderbus_cli"}
)


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every import statement anywhere in the module; relative imports stay in the library."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def test_the_library_imports_no_service() -> None:
    modules = sorted(LIBRARY.rglob("*.py"))
    assert len(modules) > 20, f"found only {len(modules)} modules under {LIBRARY}"
    offending = sorted(
        f"{module.relative_to(LIBRARY.parent)}:{line} imports {package}"
        for module in modules
        for line, package in imported_packages(ast.parse(module.read_text(), str(module)))
        if package in ABOVE_THE_LIBRARY
    )
    assert not offending, "the shared library must not import a service:\n" + "\n".join(offending)


def test_the_check_sees_lazy_imports() -> None:
    tree = ast.parse("def handler():\n    from borderbus_desk.client import tail\n    import borderbus_demo.runner\n")
    assert [package for _, package in imported_packages(tree)] == ["borderbus_desk", "borderbus_demo"]
