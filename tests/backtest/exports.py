"""Small hand-written exports in TradingView's "List of trades" format, for the backtest tests."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
GOLD_EXPORT = DATA / "Gold_Mini_Trend_Following.csv"
BANK_NIFTY_EXPORT = DATA / "ITJ_BN_TF_run_1.csv"
# Both bundled exports with fixed multipliers and commissions (Bank Nifty's its own): the arguments of a
# two-instrument replay.
BOTH = [
    "--trades",
    f"GOLD_MINI={GOLD_EXPORT}",
    "--trades",
    f"BANK_NIFTY={BANK_NIFTY_EXPORT}",
    "--multiplier",
    "GOLD_MINI=10",
    "--multiplier",
    "BANK_NIFTY=35",
    "--commission",
    "0.0005",
    "--commission",
    "BANK_NIFTY=0.001",
]

HEADER = (
    "Trade #,Type,Date/Time,Signal,Price INR,Position size (qty),Position size (value),Net P&L INR,"
    "Net P&L %,Run-up INR,Run-up %,Drawdown INR,Drawdown %,Cumulative P&L INR,Cumulative P&L %"
)


def row(number: int, kind: str, when: str, signal: str, price: float, lots: int, net: str = "0") -> str:
    """One row; the columns the reader does not use carry zeros."""
    return f"{number},{kind},{when},{signal},{price},{lots},0,{net},0,0,0,0,0,0,0"


def trade(
    number: int,
    entry: tuple[str, float],
    exit: tuple[str, float],
    lots: int,
    *,
    label: str = "",
    reason: str = "EXIT - Basso Stop",
    net: str = "0",
) -> list[str]:
    """A trade's two rows, the exit first, as TradingView writes them."""
    return [
        row(number, "Exit long", exit[0], reason, exit[1], lots, net),
        row(number, "Entry long", entry[0], label or f"ENTRY-{lots}L", entry[1], lots, net),
    ]


def export(*trades: list[str], bom: bool = True) -> str:
    """A whole export: BOM, header, rows, no trailing newline."""
    lines = [HEADER, *(line for rows in trades for line in rows)]
    return ("\ufeff" if bom else "") + "\n".join(lines)
