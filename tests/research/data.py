"""Inputs for the research tests: the first trades of the bundled exports, with generated bars through them."""

from __future__ import annotations

from pathlib import Path

from basso.backtest.bars import bars_csv
from basso.backtest.tradingview import read_trade_list
from basso.config import load_config
from basso.research.synthetic import bars_through_trades
from tests.backtest.exports import BANK_NIFTY_EXPORT, GOLD_EXPORT

EXPORTS = {"GOLD_MINI": (GOLD_EXPORT, 0.003), "BANK_NIFTY": (BANK_NIFTY_EXPORT, 0.004)}


def first_trades(source: Path, count: int, target: Path) -> Path:
    """The export at `source` cut to its trades 1 … `count` (both rows of each), as TradingView writes them."""
    lines = source.read_text("utf-8-sig").splitlines()
    kept = [line for line in lines[1:] if int(line.split(",", 1)[0]) <= count]
    target.write_text("\ufeff" + "\n".join([lines[0], *kept]), "utf-8")
    return target


def basso_inputs(tmp_path: Path, count: int = 60) -> list[str]:
    """--trades and --bars for both instruments: their first `count` trades and seeded bars through them."""
    config = load_config()
    argv: list[str] = []
    for name, (source, volatility) in EXPORTS.items():
        trades = first_trades(source, count, tmp_path / f"{name}.csv")
        bars = bars_through_trades(
            read_trade_list(trades, name), config.instrument(name), seed=7, volatility=volatility
        )
        bars_file = tmp_path / f"{name}_bars.csv"
        bars_file.write_text(bars_csv(bars), "utf-8")
        argv += ["--trades", f"{name}={trades}", "--bars", f"{name}={bars_file}"]
    return [*argv, "--sizing", "basso"]
