"""The pure rules: sizing, gates, zones, stops, equity, signals, calendars and contracts.

Nothing here does I/O or reads a clock of its own (tests/test_layers.py keeps it so): the live actors and the
backtest call the same functions, which is what makes the backtest the live logic.
"""
