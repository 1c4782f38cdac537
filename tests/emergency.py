"""A sequence that takes portfolio risk past the emergency limit (18 %) with peel-off in play (docs/rules.md §6), shared
by the live end-to-end test and the backtest's.

Peel-off caps each layer at its instrument's ongoing risk %, and new positions stop at 15 % of equity, so
with the shipped instruments no sequence of entries reaches 18 %: equity has to fall under open risk. Here
five futures (configuration only, docs/rules.md §1) each take 3 % risk; FOXTROT, with a tight stop and a large point
value, gaps through its stop and loses 40 % of equity. The next ALPHA bar finds every layer far above its
3.5 % ongoing limit: ALPHA is peeled first, and the portfolio is still above 18 %, so the emergency closes
ALPHA's remaining (profitable) layer. Commission is 0 so every figure is the bare move.

    E = ₹50,00,000. ALPHA … DELTA: price 10,000, stop 9,000 (10 × ATR 100), pv 10.
      Lot-R = 50 L × 3 % ÷ (1,000 × 10) = 15; Lot-V = 50 L × 3 % ÷ (100 × 10) = 150 ⇒ 15 lots, risk-limited,
      risk 1,000 × 15 × 10 = ₹1,50,000 (3 %) each: 12 % after DELTA (the yellow zone still takes new positions).
    FOXTROT: price 10,000, stop 9,992 (10 × ATR 0.8), pv 1,000.
      Lot-R = 1,50,000 ÷ (8 × 1,000) = 18.75; Lot-V = 1,50,000 ÷ (0.8 × 1,000) = 187.5 ⇒ 18 lots, risk
      ₹1,44,000: 14.88 % in all, within the 15 % cap.
    FOXTROT's bar closes at 9,890, below its stop: it exits there, (9,890 − 10,000) × 18 × 1,000 = −₹19,80,000.
      Closed equity 30,20,000. (Its bar's emergency check sees ALPHA … DELTA's 6 L against 50 L: the loss is
      not booked until the exit settles, and FOXTROT has nothing left to close anyway.)
    ALPHA's bar closes at 10,100 (its stop stays 9,000: the trail is 20 ATRs behind).
      Blended E = 30,20,000 + 50 % × 100 × 15 × 10 = ₹30,27,500.
      Peel-off: ALPHA's risk 1,50,000 ÷ 30,27,500 = 4.95 % > 3.5 %: excess 1,50,000 − 3.5 % × 30,27,500 =
      44,037.50, ÷ 10,000 a lot ⇒ peel ceil(4.40) = 5 lots (+₹5,000): 10 lots left, risk 1,00,000.
      The emergency reads the book as the bar leaves it, before its fills settle (the plan is made in one go):
      ALPHA's 10 lots hold 100 × 10 × 10 = 10,000 unrealised, so E = 30,20,000 + 5,000 = ₹30,25,000 and
      portfolio risk is (1,00,000 + 3 × 1,50,000) ÷ 30,25,000 = 5,50,000 ÷ 30,25,000 = 18.18 % > 18 %: it closes
      ALPHA's 10 lots (+₹10,000, the bar's instrument's only profitable layer), leaving 4,50,000 ÷ 30,25,000
      = 14.88 % < 15 %. Closed equity 30,20,000 + 5,000 + 10,000 = ₹30,35,000.
"""

from __future__ import annotations

from pathlib import Path

from basso.config import Config, load_config

FUTURES = ("ALPHA", "BRAVO", "CHARLIE", "DELTA")
GAPPER = "FOXTROT"


def _instrument(name: str, lot_size: int) -> str:
    return f"""
[instruments.{name}]
exchange = "MCX"
calendar = "MCX"
symbol_root = "{name}"
traded_as = "future"
lot_size = {lot_size}
quote_unit = 1
tick = 0.05
margin_per_lot = 10000
initial_risk_pct = 3.0
ongoing_risk_pct = 3.5
initial_vol_pct = 3.0
ongoing_vol_pct = 3.5
initial_stop_atr = 10.0
trailing_stop_atr = 20.0
max_pyramids = 3
roll_days = 8
market_open = "09:00"
market_close = "23:30"

[instruments.{name}.expiry]
rule = "last_day"
"""


CONFIG = "[paper]\ncommission_pct = 0.0\n" + "".join(_instrument(n, 10) for n in FUTURES) + _instrument(GAPPER, 1000)


def emergency_config(directory: Path) -> Config:
    """The shipped configuration with the five futures above and no commission."""
    path = directory / "emergency.toml"
    path.write_text(CONFIG)
    return load_config(path)


PEEL_REASON = "peel 5 of 15 lots: risk 4.95% (limit 3.5%), vol 0.50% (limit 3.5%)"
EMERGENCY_REASON = "emergency: portfolio risk 18.18% above 18%"
