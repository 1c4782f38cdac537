"""`basso run` refuses what it cannot honour before it starts anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from basso.cli import main


def test_openalgo_without_its_api_key_is_refused_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASSO_OPENALGO_API_KEY", raising=False)
    config = tmp_path / "basso.toml"
    config.write_text('[broker]\nkind = "openalgo"\nurl = "http://127.0.0.1:5000"\n', "utf-8")
    assert main(["--config", str(config), "run", "--data-dir", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().err == (
        "basso run: broker.kind = 'openalgo' needs OpenAlgo's API key in the "
        "environment variable BASSO_OPENALGO_API_KEY (it is never read from the "
        "configuration file)\n"
    )
    assert not (tmp_path / "data").exists()  # nothing was started or created


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('[broker]\nkind = "openalgo"\n', "broker.url: must be OpenAlgo's http:// or https:// address"),
        ('[broker]\nkind = "zerodha"\n', "broker.kind: must be one of paper, openalgo, got 'zerodha'"),
        ('[broker]\nproduct = "CNC"\n', "broker.product: must be one of NRML, MIS, got 'CNC'"),
        ("[broker]\norders_per_second = 0\n", "broker.orders_per_second: must be greater than 0"),
        ('[server]\nbroker = "openalgo"\n', "server.broker: unknown key"),
    ],
)
def test_a_wrong_broker_setting_is_refused_at_start_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, body: str, error: str
) -> None:
    monkeypatch.setenv("BASSO_OPENALGO_API_KEY", "a-key")
    config = tmp_path / "basso.toml"
    config.write_text(body, "utf-8")
    assert main(["--config", str(config), "run", "--data-dir", str(tmp_path / "data")]) == 2
    assert error in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
