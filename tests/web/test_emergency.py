"""The emergency exit proven end to end (docs/rules.md §6): signals through the real webhook and pipeline take portfolio
risk past 18 % with peel-off in play, and the next bar peels, then closes, the bar's instrument's layer.
The sequence and every figure are worked out in tests/emergency.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from basso.config import Config
from tests.emergency import EMERGENCY_REASON, FUTURES, GAPPER, PEEL_REASON, emergency_config
from tests.web.conftest import SECRET, Trading
from tests.web.test_drawdown import status


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """The five futures of tests/emergency.py (this module's webhook and pipeline trade them)."""
    return emergency_config(tmp_path)


def signal(kind: str, instrument: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "instrument": instrument, "timestamp": f"2026-11-25T{at}", "secret": SECRET, **fields}


async def test_portfolio_risk_past_18_percent_fires_the_emergency_after_the_peel_off(trading: Trading) -> None:
    for n, name in enumerate(FUTURES):
        entry = signal(
            "BASE_ENTRY", name, f"10:26:0{n}", position="Long_1", price=10_000, stop=9_000, atr=100, er=1.0, lots=1
        )
        assert await trading.outcome(entry) == ("executed", "15 lots, risk-limited")
    gapper = signal(
        "BASE_ENTRY", GAPPER, "10:26:10", position="Long_1", price=10_000, stop=9_992, atr=0.8, er=1.0, lots=1
    )
    assert await trading.outcome(gapper) == ("executed", "18 lots, risk-limited")
    assert (await status(trading.webhook))["risk_pct"] == pytest.approx(14.88)  # 7,44,000 ÷ 50,00,000

    gap = signal("MARKET_DATA", GAPPER, "10:27:00", price=9_890, atr=0.8)
    assert await trading.outcome(gap) == ("executed", "stop hit: close 9890 below stop 9992")
    rise = signal("MARKET_DATA", "ALPHA", "10:28:00", price=10_100, atr=100)
    assert await trading.outcome(rise) == ("executed", f"{PEEL_REASON}; {EMERGENCY_REASON}")

    pool = trading.webhook.services.pool
    closed = await pool.fetch(
        "SELECT instrument, lots, exit_price, exit_reason, realised_pnl FROM positions"
        " WHERE status = 'closed' ORDER BY exit_signal, lots"
    )
    assert [tuple(r) for r in closed] == [
        (GAPPER, 18, Decimal("9890.0000"), "stop hit: close 9890 below stop 9992", Decimal("-1980000.00")),
        ("ALPHA", 5, Decimal("10100.0000"), PEEL_REASON, Decimal("5000.00")),
        ("ALPHA", 10, Decimal("10100.0000"), EMERGENCY_REASON, Decimal("10000.00")),
    ]
    still_open = await pool.fetch("SELECT instrument, lots FROM positions WHERE status <> 'closed' ORDER BY 1")
    assert [tuple(r) for r in still_open] == [("BRAVO", 15), ("CHARLIE", 15), ("DELTA", 15)]
    after = await status(trading.webhook)
    # 4,50,000 ÷ 30,35,000 (closed, nothing unrealised now that ALPHA is closed) = 14.83 %.
    assert (after["equity"]["closed"], round(after["risk_pct"], 2)) == ("3035000.00", 14.83)
