"""`basso backtest`: replay TradingView trade lists on one portfolio, at fixed lots or with Basso sizing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import Progress as RichProgress

from basso.backtest.bars import Bars, BarsError, average_true_range, read_bars
from basso.backtest.replay import PnlSource, ReplayResult, commission_pct, replay_fixed
from basso.backtest.report import stats_table, summary, write_outputs
from basso.backtest.sized import Progress, replay_basso
from basso.backtest.tradingview import (
    ExportedTrade,
    ReplaySignal,
    TradeListError,
    merge_signals,
    read_trade_list,
    signals_from_trades,
)
from basso.cli import UsageError
from basso.commands.common import load_user_config, non_negative_number, positive_number, positive_whole_number
from basso.config import Config

_LONG_RUN_BARS = 200_000  # below this a replay takes well under a second: no progress bar


def register(subparsers: Any) -> None:
    """Add the `backtest` sub-command."""
    parser = subparsers.add_parser(
        "backtest",
        help="replay TradingView trade lists through the portfolio rules",
        description="Replay TradingView 'List of trades' exports, merged in time order into one portfolio: at the "
        "strategy's own lots (--sizing fixed) or sized, stopped and peeled by Basso's rules "
        "(--sizing basso, which needs --bars).",
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write report.html, trades.csv, equity.csv and summary.json here"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(run=run)


def add_input_arguments(parser: Any) -> None:
    """The replay's inputs and settings, shared by `basso backtest`, `montecarlo` and `sweep`."""
    parser.add_argument(
        "--trades",
        action="append",
        required=True,
        type=_pair,
        metavar="INSTRUMENT=FILE",
        help="a List of trades export for an instrument (repeat for more instruments)",
    )
    parser.add_argument(
        "--bars",
        action="append",
        default=[],
        type=_pair,
        metavar="INSTRUMENT=FILE",
        help="OHLC bars for an instrument: timestamp,open,high,low,close[,volume]",
    )
    parser.add_argument(
        "--capital",
        type=positive_number,
        metavar="RUPEES",
        help="initial capital (default: server.initial_capital of the configuration)",
    )
    parser.add_argument(
        "--sizing",
        choices=("fixed", "basso"),
        default="fixed",
        help="fixed: the strategy's own lots (default); basso: the live rules",
    )
    parser.add_argument(
        "--commission",
        action="append",
        default=[],
        type=_commission,
        metavar="[INSTRUMENT=]C",
        help="commission per side as a fraction of notional, e.g. 0.0005 for 0.05 %%; "
        "INSTRUMENT=C sets one instrument's (default: paper.commission_pct of the configuration)",
    )
    parser.add_argument(
        "--multiplier",
        action="append",
        default=[],
        type=_pair,
        metavar="INSTRUMENT=M",
        help="₹ per point per lot for an instrument (default: its point value on the trade's date)",
    )
    parser.add_argument(
        "--pnl",
        choices=("formula", "export"),
        default="formula",
        help="fixed sizing: P&L by the formula (default) or TradingView's own Net P&L column",
    )
    parser.add_argument(
        "--atr-period",
        type=positive_whole_number,
        metavar="N",
        help="ATR(N) from bars (default: backtest.atr_period of the configuration)",
    )


def run(args: argparse.Namespace) -> int:
    """Replay, then print the figures and write the files asked for."""
    inputs = load_inputs(args)
    with _progress(args, inputs.bar_count) as progress:
        result = replay(inputs, progress=progress)
    return _show(args, result)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayInputs:
    """Everything a replay needs, read and checked from the command line: the one loading path of
    `basso backtest`, `basso montecarlo` and `basso sweep`."""

    sizing: Literal["fixed", "basso"]
    config: Config  # the user's configuration (Basso sizing: with the commission given applied to the paper broker)
    capital: float
    trades: dict[str, list[ExportedTrade]]
    commission: float
    commissions: dict[str, float]
    multipliers: dict[str, float]
    pnl: PnlSource
    signals: tuple[ReplaySignal, ...] = ()  # Basso sizing: the exports' signals, merged in time order
    bars: dict[str, Bars] = field(default_factory=dict)  # Basso sizing: instrument → bars
    atr_period: int = 0

    @property
    def bar_count(self) -> int:
        """How many bars a Basso-sized replay walks (0 for fixed sizing)."""
        return sum(len(b) for b in self.bars.values())


def load_inputs(args: argparse.Namespace) -> ReplayInputs:
    """Read and check the files and settings of `add_input_arguments`; a UsageError names any mistake."""
    config = load_user_config(args)
    commission, commissions = _commissions(args.commission, config)
    capital = args.capital if args.capital is not None else config.server.initial_capital
    if capital <= 0:
        raise UsageError("--capital: must be greater than 0 (and server.initial_capital is not)")
    trades = _read_trades(_by_instrument(args.trades, "--trades", config))
    multipliers = {
        name: _multiplier(text) for name, text in _by_instrument(args.multiplier, "--multiplier", config).items()
    }
    _check_known(multipliers, trades, "--multiplier")
    _check_known(commissions, trades, "--commission")
    if args.bars and args.sizing != "basso":
        raise UsageError("--bars: bars drive Basso's stops and sizing; add --sizing basso")
    inputs = ReplayInputs(
        sizing=args.sizing,
        config=config,
        capital=capital,
        trades=trades,
        commission=commission,
        commissions=commissions,
        multipliers=multipliers,
        pnl=args.pnl,
    )
    return _basso(args, inputs) if args.sizing == "basso" else inputs


def replay(inputs: ReplayInputs, *, config: Config | None = None, progress: Progress | None = None) -> ReplayResult:
    """Replay `inputs`; Basso sizing under `config` if given (a sweep's variant of `inputs.config`)."""
    if inputs.sizing == "fixed":
        return replay_fixed(
            inputs.trades,
            capital=inputs.capital,
            commission=inputs.commission,
            commissions=inputs.commissions,
            config=inputs.config,
            multipliers=inputs.multipliers,
            pnl_source=inputs.pnl,
        )
    rules = config or inputs.config
    atrs = {
        name: average_true_range(b.highs, b.lows, b.closes, rules.backtest.atr_period)
        for name, b in inputs.bars.items()
    }
    return replay_basso(inputs.signals, inputs.bars, atrs, capital=inputs.capital, config=rules, progress=progress)


def _show(args: argparse.Namespace, result: ReplayResult) -> int:
    figures = summary(result)
    written = write_outputs(args.out, result, figures) if args.out is not None else []
    if args.json:
        print(json.dumps(figures))
        return 0
    console = Console()
    console.print(stats_table(figures))
    for note in figures["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False)
    for path in written:
        console.print(f"wrote {path}", markup=False, highlight=False)
    return 0


def _basso(args: argparse.Namespace, inputs: ReplayInputs) -> ReplayInputs:
    if inputs.multipliers:
        raise UsageError(
            "--multiplier: Basso sizing uses the configured point values (lot_size_history); "
            "--multiplier is for --sizing fixed"
        )
    if inputs.commissions:
        raise UsageError(
            "--commission: Basso sizing fills through the paper broker, which charges one commission "
            "for every instrument; give it as --commission C"
        )
    if args.pnl != "formula":
        raise UsageError("--pnl export: TradingView's P&L is for the strategy's own lots; use it with --sizing fixed")
    config, trades = inputs.config, inputs.trades
    files = _by_instrument(args.bars, "--bars", config)
    _check_known(files, trades, "--bars")
    missing = [name for name in trades if name not in files]
    if missing:
        raise UsageError(
            f"--sizing basso needs --bars for {', '.join(missing)}: TradingView exports carry no stop "
            "or ATR for entries, so Basso takes both from the bars"
        )
    period = args.atr_period or config.backtest.atr_period
    try:
        bars = {name: read_bars(Path(files[name]), name) for name in trades}
    except BarsError as exc:
        raise UsageError(f"--bars: {exc}") from None
    signals = merge_signals(signals_from_trades(t) for t in trades.values())
    rules = replace(
        config,
        paper=replace(config.paper, commission_pct=commission_pct(inputs.commission)),
        backtest=replace(config.backtest, atr_period=period),
    )
    return replace(inputs, config=rules, signals=tuple(signals), bars=bars, atr_period=period)


@contextmanager
def _progress(args: argparse.Namespace, total: int) -> Iterator[Progress | None]:
    """A progress bar on stderr for long runs shown in a terminal table; nothing for --json or short runs."""
    if args.json or total < _LONG_RUN_BARS:
        yield None
        return
    with RichProgress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("replaying bars", total=total)
        yield lambda done, _total: bar.update(task, completed=done)


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected INSTRUMENT=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _commission(text: str) -> tuple[str | None, float]:
    name, sep, value = text.rpartition("=")
    fraction = non_negative_number(value.strip())
    if fraction >= 1:
        raise argparse.ArgumentTypeError(f"is a fraction of notional per side (0.0005 = 0.05 %), got {value.strip()}")
    if sep and not name.strip():
        raise argparse.ArgumentTypeError(f"expected C or INSTRUMENT=C, got {text!r}")
    return (name.strip() or None), fraction


def _commissions(given: Sequence[tuple[str | None, float]], config: Config) -> tuple[float, dict[str, float]]:
    overall = [fraction for name, fraction in given if name is None]
    if len(overall) > 1:
        raise UsageError("--commission: a commission for every instrument is given twice")
    default = overall[0] if overall else config.paper.commission_pct / 100
    named = [(name, str(fraction)) for name, fraction in given if name is not None]
    return default, {name: float(value) for name, value in _by_instrument(named, "--commission", config).items()}


def _by_instrument(pairs: Sequence[tuple[str, str]], option: str, config: Config) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in pairs:
        try:
            canonical = config.instrument(name).name
        except KeyError as exc:
            raise UsageError(f"{option}: {exc.args[0]}") from None
        if canonical in found:
            raise UsageError(f"{option}: {canonical} is given twice")
        found[canonical] = value
    return found


def _read_trades(files: dict[str, str]) -> dict[str, list[ExportedTrade]]:
    try:
        return {name: read_trade_list(Path(path), name) for name, path in files.items()}
    except TradeListError as exc:
        raise UsageError(f"--trades: {exc}") from None


def _multiplier(text: str) -> float:
    try:
        return positive_number(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--multiplier: {exc}") from None


def _check_known(given: dict[str, Any], trades: dict[str, Any], option: str) -> None:
    for name in given:
        if name not in trades:
            raise UsageError(f"{option}: {name} has no --trades file")
