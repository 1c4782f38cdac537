"""The configuration: one source of truth, overridable, and refused with the key named when wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from basso.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "basso.toml"
    path.write_text(text, "utf-8")
    return path


def test_shipped_defaults_hold_specs_instrument_table() -> None:
    config = load_config()
    bank_nifty, gold = config.instrument("BANK_NIFTY"), config.instrument("GOLD_MINI")
    # docs/rules.md §1: BN lot 30, point value = lot size; Gold Mini 100 g quoted per 10 g ⇒ ₹10 per point per lot.
    assert (bank_nifty.lot_size, bank_nifty.point_value, bank_nifty.margin_per_lot) == (30, 30.0, 270000.0)
    assert (gold.lot_size, gold.point_value, gold.margin_per_lot, gold.tick) == (100, 10.0, 105000.0, 1.0)
    assert (bank_nifty.initial_stop_atr, bank_nifty.trailing_stop_atr, bank_nifty.max_pyramids) == (1.5, 2.5, 5)
    assert (gold.initial_vol_pct, gold.ongoing_vol_pct, gold.roll_days) == (0.2, 0.3, 8)
    # Further instruments are configuration only: COPPER pv 2,500, SILVER_MINI pv 5.
    assert config.instrument("COPPER").point_value == 2500.0
    assert config.instrument("SILVER_MINI").point_value == 5.0


@pytest.mark.parametrize(
    ("day", "lots"),
    [
        (date(2005, 6, 13), 100),
        (date(2007, 2, 22), 100),
        (date(2007, 2, 23), 50),
        (date(2015, 8, 28), 30),
        (date(2018, 10, 26), 20),
        (date(2023, 7, 1), 15),
        (date(2025, 4, 24), 30),
        (date(2025, 4, 25), 35),
        (date(2025, 12, 29), 35),
        (date(2025, 12, 30), 30),
    ],
)
def test_bank_nifty_lot_size_and_point_value_follow_the_history(day: date, lots: int) -> None:
    bank_nifty = load_config().instrument("BANK_NIFTY")
    assert bank_nifty.lot_size_on(day) == lots
    assert bank_nifty.point_value_on(day) == lots


def test_instrument_lookup_is_case_insensitive_and_names_the_known_ones_when_unknown() -> None:
    config = load_config()
    assert config.instrument("gold_mini").name == "GOLD_MINI"
    with pytest.raises(KeyError, match=r"unknown instrument 'CRUDE'.*BANK_NIFTY"):
        config.instrument("CRUDE")


def test_a_user_file_overrides_one_key_and_keeps_the_rest(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "[instruments.GOLD_MINI]\nmargin_per_lot = 110000\n[portfolio]\nmax_risk_pct = 12.5\n")
    )
    assert config.instrument("GOLD_MINI").margin_per_lot == 110000.0
    assert config.instrument("GOLD_MINI").lot_size == 100
    assert config.portfolio.max_risk_pct == 12.5
    assert config.portfolio.max_vol_pct == 5.0


def test_a_new_instrument_is_configuration_only(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[instruments.CRUDE_MINI]
exchange = "MCX"
calendar = "MCX"
symbol_root = "CRUDEOILM"
traded_as = "future"
lot_size = 10
quote_unit = 1
tick = 1
margin_per_lot = 60000
initial_risk_pct = 0.5
ongoing_risk_pct = 1.0
initial_vol_pct = 0.2
ongoing_vol_pct = 0.3
initial_stop_atr = 2.0
trailing_stop_atr = 3.0
max_pyramids = 2
roll_days = 5
market_open = "09:00"
market_close = "23:30"
[instruments.CRUDE_MINI.expiry]
rule = "day_of_month"
day = 19
""",
        )
    )
    crude = config.instrument("CRUDE_MINI")
    assert crude.point_value == 10.0
    assert crude.expiry.day == 19


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[instruments.GOLD_MINI]\nmargin_per_lot = -5\n",
            r"instruments\.GOLD_MINI\.margin_per_lot: must be greater than 0",
        ),
        ("[server]\npending_sweep_s = 0\n", r"server\.pending_sweep_s: must be greater than 0"),
        ("[leadership]\nlease_ttl_s = -1\n", r"leadership\.lease_ttl_s: must be greater than 0"),
        ("[leadership]\nstandby_every_s = 0\n", r"leadership\.standby_every_s: must be greater than 0"),
        (
            "[leadership]\nstandby_every_s = 0.05\n",
            r"leadership\.renew_jitter_s: must be less than renew_every_s and standby_every_s \(0\.05\), got 0\.1",
        ),
        ('[instruments.GOLD_MINI]\nlot_size = "100"\n', r"instruments\.GOLD_MINI\.lot_size: must be a whole number"),
        ("[instruments.GOLD_MINI]\nmargin_per_lt = 1\n", r"instruments\.GOLD_MINI\.margin_per_lt: unknown key"),
        ('[instruments.GOLD_MINI]\ncalendar = "LME"\n', r"instruments\.GOLD_MINI\.calendar: no calendar 'LME'"),
        ('[instruments.GOLD_MINI]\nmarket_close = "25:99"\n', r"instruments\.GOLD_MINI\.market_close: must be a time"),
        ('[instruments.GOLD_MINI]\nmarket_close = "08:00"\n', r"instruments\.GOLD_MINI\.market_close: must be after"),
        (
            "[instruments.GOLD_MINI]\nongoing_risk_pct = 0.1\n",
            r"instruments\.GOLD_MINI\.ongoing_risk_pct: must be at least",
        ),
        (
            "[instruments.BANK_NIFTY]\nlot_size = 35\n",
            r"instruments\.BANK_NIFTY\.lot_size: is 35 but lot_size_history ends at 30",
        ),
        (
            '[instruments.BANK_NIFTY.expiry]\nweekday = "funday"\n',
            r"instruments\.BANK_NIFTY\.expiry\.weekday: must be one of",
        ),
        ("[instruments.GOLD_MINI.expiry]\nday = 31\n", r"instruments\.GOLD_MINI\.expiry\.day: must be 1-28"),
        ('[instruments.GOLD_MINI]\ntraded_as = "spot"\n', r"instruments\.GOLD_MINI\.traded_as: must be one of"),
        ("[instruments.gold]\nlot_size = 1\n", r"instruments\.gold: names are upper case"),
        ("[instruments.SILVER_MINI.expiry]\nmonths = [13]\n", r"instruments\.SILVER_MINI\.expiry\.months"),
        ('[portfolio]\nequity_mode = "best"\n', r"portfolio\.equity_mode: must be one of closed, open, blended"),
        ("[portfolio]\ner_scaling = 1\n", r"portfolio\.er_scaling: must be true or false"),
        ("[portfolio.risk_zones]\nyellow = 20\n", r"portfolio\.risk_zones: zones must rise"),
        ("[drawdown]\nhalve_from_pct = 2\n", r"drawdown: bands must rise"),
        ("[server]\nport = 70000\n", r"server\.port: must be at most 65535"),
        ('[calendars.NSE]\nextra_holidays = ["2025-13-01"]\n', r"calendars\.NSE\.extra_holidays: must be an ISO date"),
        ("[surprise]\nx = 1\n", r"surprise: unknown key"),
        ("this is = = not toml", r"not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_a_missing_user_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: cannot read"):
        load_config(tmp_path / "nowhere.toml")


def test_config_values_are_immutable() -> None:
    gold = load_config().instrument("GOLD_MINI")
    with pytest.raises(AttributeError):
        gold.lot_size = 1  # type: ignore[misc]


def test_the_deploy_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[1] / "deploy" / "basso.example.toml"
    config = load_config(example)
    assert config.server.data_dir == Path("/var/lib/basso")
    assert config.instrument("GOLD_MINI").margin_per_lot == 110000.0
