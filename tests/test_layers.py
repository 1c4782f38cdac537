"""The house keeps its layers: the rules are pure, and only the store talks SQL (docs/architecture.md "Layout")."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import basso

PACKAGE = Path(basso.__file__).parent
RULES = sorted((PACKAGE / "rules").glob("*.py"))
IO_MODULES = ("asyncio", "asyncpg", "aiohttp", "redis", "basso.store", "basso.actors", "basso.http")
SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|LISTEN|NOTIFY|CREATE|ALTER|LOCK)\s"
)  # our SQL is written in capitals
QUERY_METHODS = {"fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def _forbidden(module: str) -> bool:
    return any(module == io or module.startswith(io + ".") for io in IO_MODULES)


def test_the_rules_are_a_folder_of_their_own() -> None:
    assert {p.stem for p in RULES} >= {
        "values",
        "layers",
        "book",
        "money",
        "equity",
        "portfolio",
        "sizing",
        "pyramid",
        "stops",
        "decisions",
        "settlement",
        "signals",
        "calendars",
        "contracts",
    }


def test_no_rule_imports_io_the_store_the_actors_or_the_server() -> None:
    offenders = {f"{p.name}: {m}" for p in RULES for m in _imports(p) if _forbidden(m)}
    assert offenders == set()


def test_importing_every_rule_loads_no_io_module_even_indirectly() -> None:
    modules = ", ".join(f"basso.rules.{p.stem}" for p in RULES if p.stem != "__init__")
    probe = (
        f"import sys; import {modules}; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'asyncpg', 'aiohttp', 'redis')"
        f" or m.startswith(('basso.store', 'basso.actors', 'basso.http'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def _talks_sql(path: Path, root: Path = PACKAGE) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {node.value[:40]!r}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}: .{node.func.attr}(…)")
    return found


def test_only_the_store_talks_sql() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if "store" not in p.relative_to(PACKAGE).parts]
    assert [line for p in outside for line in _talks_sql(p)] == []


def test_the_sql_check_finds_a_query_where_it_does_not_belong(tmp_path: Path) -> None:
    module = tmp_path / "api.py"
    module.write_text('async def f(pool):\n    return await pool.fetchval("SELECT 1")\n')
    assert len(_talks_sql(module, tmp_path)) == 2  # the string and the call
