"""Grid names map to the configuration's own keys; a bad name or value is refused in one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from basso.config import load_raw_config
from basso.research.grid import GridError, expand, parse_grid_args, read_grid_file, snippet

REPLAYED = ["GOLD_MINI", "BANK_NIFTY"]


def configurations(*items: str) -> list:  # type: ignore[type-arg]
    return expand(parse_grid_args(list(items)), load_raw_config(), {}, REPLAYED)


def test_the_short_names_set_the_real_keys_for_every_replayed_instrument() -> None:
    [only] = configurations("risk_pct=1", "vol_pct=0.3", "equity_mode=closed", "pyramid_ratio=0.25")
    config = only.config
    assert config.portfolio.equity_mode == "closed"
    assert config.pyramid.discipline_ratio == 0.25
    for name in REPLAYED:
        assert config.instruments[name].initial_risk_pct == 1.0
        assert config.instruments[name].initial_vol_pct == 0.3
    # The ongoing (peel-off) limits keep their ratio to the initial ones in defaults.toml:
    # risk 1.0 ÷ 0.5 = 2 ⇒ 2.0; Bank Nifty vol 0.7 ÷ 0.5 = 1.4 ⇒ 0.42; Gold Mini vol 0.3 ÷ 0.2 = 1.5 ⇒ 0.45.
    assert config.instruments["BANK_NIFTY"].ongoing_risk_pct == 2.0
    assert config.instruments["BANK_NIFTY"].ongoing_vol_pct == 0.42
    assert config.instruments["GOLD_MINI"].ongoing_vol_pct == 0.45
    # An instrument not replayed keeps its own numbers.
    assert config.instruments["COPPER"].initial_risk_pct == 0.5


def test_naming_the_ongoing_limit_sets_it_instead_of_the_ratio() -> None:
    [only] = configurations("risk_pct=0.8", "ongoing_risk_pct=1.2")
    assert only.config.instruments["GOLD_MINI"].ongoing_risk_pct == 1.2


def test_every_combination_in_order_the_last_name_fastest() -> None:
    found = configurations("risk_pct=0.5,1", "equity_mode=closed,blended,high_water")
    assert [(c.index, c.settings["risk_pct"], c.settings["equity_mode"]) for c in found] == [
        (0, 0.5, "closed"),
        (1, 0.5, "blended"),
        (2, 0.5, "high_water"),
        (3, 1, "closed"),
        (4, 1, "blended"),
        (5, 1, "high_water"),
    ]


def test_full_keys_and_one_instrument() -> None:
    [only] = configurations(
        "portfolio.max_risk_pct=12", "instruments.GOLD_MINI.trailing_stop_atr=3", "drawdown.halt_from_pct=25"
    )
    assert only.config.portfolio.max_risk_pct == 12.0
    assert only.config.instruments["GOLD_MINI"].trailing_stop_atr == 3.0
    assert only.config.instruments["BANK_NIFTY"].trailing_stop_atr == 2.5
    assert only.config.drawdown.halt_from_pct == 25.0


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["risk=1"], "--grid risk: unknown setting (known: risk_pct, vol_pct"),
        (["server.port=1"], "--grid server.port: unknown setting"),
        (
            ["portfolio.nonsense=1"],
            "--grid portfolio.nonsense: portfolio.nonsense is not a setting of the configuration",
        ),
        (["instruments.ZINC.initial_risk_pct=1"], "--grid instruments.ZINC.initial_risk_pct: no instrument ZINC"),
        (
            ["risk_pct=150"],
            "--grid risk_pct=150: instruments.BANK_NIFTY.initial_risk_pct: must be at most 100, got 150",
        ),
        (["risk_pct=abc"], "--grid risk_pct=abc: must be a number"),
        (
            ["equity_mode=closed,sideways"],
            "--grid equity_mode=sideways: portfolio.equity_mode: must be one of closed, "
            "open, blended, high_water, got 'sideways'",
        ),
        (["max_pyramids=1.5"], "--grid max_pyramids=1.5: instruments.BANK_NIFTY.max_pyramids: must be a whole number"),
        (["pyramid_ratio=0.5", "pyramid_ratio=1"], "--grid pyramid_ratio: given twice"),
        (["risk_pct="], "--grid risk_pct=: an empty value"),
        (["risk_pct"], "--grid risk_pct: expected NAME=VALUE"),
        (
            ["risk_pct=0.8", "ongoing_risk_pct=0.6"],
            "--grid risk_pct=0.8 ongoing_risk_pct=0.6: "
            "instruments.BANK_NIFTY.ongoing_risk_pct: must be at least initial",
        ),
    ],
)
def test_a_bad_name_or_value_is_refused_naming_it(items: list[str], message: str) -> None:
    with pytest.raises(GridError) as refused:
        configurations(*items)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_toml_grid_file_with_nested_full_keys(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text('[grid]\nrisk_pct = [0.5, 1.0]\nequity_mode = "closed"\n[grid.pyramid]\ndiscipline_ratio = [0.5]\n')
    grid = read_grid_file(path)
    assert grid == [("risk_pct", [0.5, 1.0]), ("equity_mode", ["closed"]), ("pyramid.discipline_ratio", [0.5])]
    found = expand(grid, load_raw_config(), {}, REPLAYED)
    assert [c.config.instruments["GOLD_MINI"].initial_risk_pct for c in found] == [0.5, 1.0]


def test_the_snippet_is_a_config_file_that_loads_to_the_same_configuration(tmp_path: Path) -> None:
    [only] = configurations("risk_pct=1", "equity_mode=closed")
    text = snippet(only, "best")
    assert text == (
        "# best\n[instruments.GOLD_MINI]\ninitial_risk_pct = 1\nongoing_risk_pct = 2.0\n\n"
        "[instruments.BANK_NIFTY]\ninitial_risk_pct = 1\nongoing_risk_pct = 2.0\n\n"
        '[portfolio]\nequity_mode = "closed"\n'
    )
    path = tmp_path / "best.toml"
    path.write_text(text)
    from basso.config import load_config

    assert load_config(path) == only.config
