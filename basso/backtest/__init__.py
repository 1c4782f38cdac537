"""Backtest mode (docs/rules.md §11): TradingView trade lists replayed through the same rules the live system runs.

One job per module: `tradingview` reads "List of trades" exports and turns them into signals, `bars` reads
OHLC bars and computes ATR, `replay` replays at the strategy's own lots (`fixed`), `sized` drives the live
rules over bars (`basso`), `stats` and `report` turn the outcome into figures, tables and files.
"""
