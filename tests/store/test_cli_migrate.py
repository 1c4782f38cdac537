"""`basso migrate`: applies the schema once, says when it is up to date, and names a missing URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from basso.cli import main


async def test_migrate_applies_then_reports_up_to_date(fresh_database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(main, ["migrate", "--database", fresh_database]) == 0
    # Every file in sql/ (named NNN_what.sql), in order: adding a migration does not need this test edited.
    files = sorted(int(p.name.split("_")[0]) for p in (Path(__file__).parents[2] / "sql").glob("*.sql"))
    assert files[:5] == [1, 2, 3, 4, 5]
    assert capsys.readouterr().out.strip() == "applied migrations: " + ", ".join(map(str, files))
    assert await asyncio.to_thread(main, ["migrate", "--database", fresh_database]) == 0
    assert capsys.readouterr().out.strip() == "schema is up to date"


def test_migrate_without_a_database_url_is_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BASSO_DATABASE_URL", raising=False)
    assert main(["migrate"]) == 2
    assert capsys.readouterr().err.startswith("basso migrate: error: --database: no PostgreSQL URL given")


def test_migrate_to_an_unreachable_server_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--database", "postgresql://postgres@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("basso migrate: error: --database: cannot migrate")
    assert "\n" not in err
