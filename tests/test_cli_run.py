"""`basso run` refuses what it cannot honour before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from basso.cli import main


def test_a_broker_not_wired_in_yet_is_refused_rather_than_traded_on_paper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "basso.toml"
    config.write_text('[server]\nbroker = "openalgo"\n', "utf-8")
    assert main(["--config", str(config), "run", "--data-dir", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == (
        "basso run: server.broker = 'openalgo' is not wired into the pipeline yet; only 'paper' runs today\n"
    )
    assert not (tmp_path / "data").exists()  # nothing was started or created
