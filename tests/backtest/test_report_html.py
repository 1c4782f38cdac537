"""The HTML report stands alone, opens in a real browser, shows its charts, and agrees with summary.json."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from basso.backtest.charts import equity_chart, rupee_label
from basso.backtest.replay import replay_fixed
from basso.backtest.report import indian_rupees, monthly_returns
from basso.backtest.stats import EquityPoint, equity_curve
from basso.backtest.tradingview import read_trade_list
from basso.cli import main
from basso.config import Config

from .chromium import headless_chromium
from .exports import BOTH, GOLD_EXPORT

# What the page shows, read in the browser: every image's decoded size and every figure cell's value and text.
PAGE_FACTS = """
(async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map(image => image.decode()));
  return {
    images: images.map(image => ({id: image.id, complete: image.complete, width: image.naturalWidth,
                                  height: image.naturalHeight, src: image.src.slice(0, 21)})),
    cells: Array.from(document.querySelectorAll("#stats td")).map(cell => ({
      scope: cell.dataset.scope, key: cell.dataset.key, value: JSON.parse(cell.dataset.value),
      text: cell.textContent})),
    external: Array.from(document.querySelectorAll("[src],[href]")).map(e => e.src || e.href)
      .filter(url => !url.startsWith("data:")),
  };
})()
"""


@pytest.fixture
def report_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "report"
    assert main(["backtest", *BOTH, "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    return out


async def page_facts(report: Path, profile: Path) -> dict[str, Any]:
    async with headless_chromium(profile) as browser:
        session = await browser.open_page(report.as_uri())
        facts: dict[str, Any] = await browser.evaluate(session, PAGE_FACTS)
        return facts


async def test_report_opens_in_chromium_with_its_charts_decoded(report_dir: Path, tmp_path: Path) -> None:
    facts = await page_facts(report_dir / "report.html", tmp_path / "profile")
    assert [image["id"] for image in facts["images"]] == ["chart-equity", "chart-equity-log", "chart-exposure"]
    for image in facts["images"]:
        assert image["complete"]
        assert image["src"] == "data:image/png;base64"  # embedded: the file stands alone
        assert image["width"] == 1400  # 14 inches at 100 dpi, shown at the page's full width
    # Equity over drawdown: 6.4 inches; exposure 3.4 inches.
    assert [image["height"] for image in facts["images"]] == [640, 640, 340]
    assert facts["external"] == []


async def test_report_figures_in_the_browser_match_summary_json(report_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    facts = await page_facts(report_dir / "report.html", tmp_path / "profile")
    cells = {(cell["scope"], cell["key"]): cell for cell in facts["cells"]}
    scopes = {"portfolio": summary, **summary["per_instrument"]}
    for scope, figures in scopes.items():
        for key in (
            "net_pnl",
            "final_equity",
            "trades_closed",
            "winners",
            "win_rate_pct",
            "profit_factor",
            "max_drawdown_pct",
            "max_lots",
            "cagr_pct",
        ):
            assert cells[(scope, key)]["value"] == figures[key], (scope, key)
    gold = cells[("GOLD_MINI", "net_pnl")]
    assert gold["text"] == indian_rupees(summary["per_instrument"]["GOLD_MINI"]["net_pnl"])
    assert cells[("BANK_NIFTY", "max_drawdown_pct")]["text"] == "28.26 %"
    assert cells[("GOLD_MINI", "win_rate_pct")]["text"] == "40.16 %"
    assert cells[("GOLD_MINI", "profit_factor")]["text"] == "1.885"
    assert cells[("portfolio", "trades_closed")]["text"] == "958"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (30603208.39, "₹3,06,03,208.39"),
        (-52963.75, "−₹52,963.75"),
        (999.5, "₹999.50"),
        (100000, "₹1,00,000.00"),
        (0, "₹0.00"),
    ],
)
def test_rupees_are_grouped_in_lakhs_and_crores(amount: float, shown: str) -> None:
    assert indian_rupees(amount) == shown


# What the page lays out, measured in the browser at a 1,920-pixel window (a common desktop).
LAYOUT = """
(() => {
  const box = id => { const r = document.getElementById(id).getBoundingClientRect();
                      return {width: r.width, height: r.height, top: r.top + window.scrollY}; };
  const shown = id => getComputedStyle(document.getElementById(id)).display !== "none";
  return {
    page: document.documentElement.clientWidth,
    equity: box("chart-equity-log"), exposure: box("chart-exposure"), stats: box("stats"),
    monthly: box("monthly"),
    linear_shown: shown("figure-equity"), log_shown: shown("figure-equity-log"),
    monthly_years: Array.from(document.querySelectorAll("#monthly tbody th")).map(th => th.textContent),
    monthly_cells: document.querySelectorAll("#monthly tbody td").length,
    trades: document.querySelectorAll("#trades tbody tr").length,
    notes: document.querySelectorAll("#notes li").length,
  };
})()
"""


async def test_report_uses_the_full_width_and_shows_every_part(report_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    async with headless_chromium(tmp_path / "profile") as browser:
        session = await browser.open_page((report_dir / "report.html").as_uri())
        await browser.set_width(session, 1920)
        layout = await browser.evaluate(session, LAYOUT)
        screenshot = tmp_path / "report.png"
        width, height = await browser.screenshot(session, screenshot)
    # Full width: the charts span the page (the window less a scroll bar) less its 2em (32 px) margins a side,
    # and the monthly returns sit beside the figures rather than under them.
    assert 1890 <= layout["page"] <= 1920
    assert layout["equity"]["width"] == pytest.approx(layout["page"] - 2 * 32, abs=1)
    assert layout["exposure"]["width"] == layout["equity"]["width"]
    assert layout["monthly"]["top"] == pytest.approx(layout["stats"]["top"], abs=1)
    # Both exports merged grow from 50 L to about 21.5 Cr (43×, more than 10×): the page opens on the log scale.
    assert (layout["linear_shown"], layout["log_shown"]) == (False, True)
    # Monthly returns from the first close (2009) to the last (2025): 17 years × 13 cells (12 months + year).
    assert layout["monthly_years"] == [str(y) for y in range(2009, 2026)]
    assert layout["monthly_cells"] == 17 * 13
    assert layout["trades"] == summary["trades_closed"] + summary["trades_open"]
    assert layout["notes"] == 0  # fixed sizing has no rule decisions to tell
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert width >= 1890
    assert height > 2000


def test_monthly_returns_compound_from_month_end_to_month_end() -> None:
    # Capital 10 L; closes: +1 L on 10 Jan (11 L), −55,000 on 20 Jan (10.45 L), nothing in Feb, +2.09 L on 5 Mar
    # (12.54 L). Jan: 10.45 ÷ 10 − 1 = 4.5 %; Feb: 0 %; Mar: 12.54 ÷ 10.45 − 1 = 20 %.
    ist = timezone(timedelta(hours=5, minutes=30))
    curve = [
        EquityPoint(time=datetime(2024, 1, 10, 11, 0, tzinfo=ist), equity=Decimal("1100000"), drawdown_pct=0.0),
        EquityPoint(time=datetime(2024, 1, 20, 11, 0, tzinfo=ist), equity=Decimal("1045000"), drawdown_pct=5.0),
        EquityPoint(time=datetime(2024, 3, 5, 11, 0, tzinfo=ist), equity=Decimal("1254000"), drawdown_pct=0.0),
    ]
    table = monthly_returns(Decimal("1000000"), curve)
    assert list(table) == [2024]
    jan, feb, mar, *rest = table[2024]
    assert jan == pytest.approx(4.5)
    assert feb == 0.0
    assert mar == pytest.approx(20.0)
    assert rest == [None] * 9  # after the last close: not part of the run


@pytest.mark.parametrize(
    ("amount", "label"),
    [
        (21_50_00_000, "₹21.5 Cr"),
        (1_00_00_000, "₹1 Cr"),
        (50_00_000, "₹50 L"),
        (2_50_000, "₹2.5 L"),
        (75_000, "₹75,000"),
        (0, "₹0"),
        (-10_00_000, "−₹10 L"),
        (3_000_00_00_000, "₹3,000 Cr"),
    ],
)
def test_rupee_axis_labels_read_in_lakh_and_crore(amount: float, label: str) -> None:
    assert rupee_label(amount) == label


def test_the_equity_axis_has_no_scientific_offset(config: Config) -> None:
    # The figure itself, drawn: every tick label on the equity axis is in lakh or crore, none says 1e8.
    result = replay_fixed(
        {"GOLD_MINI": read_trade_list(GOLD_EXPORT, "GOLD_MINI")},
        capital=5_000_000,
        commission=0.0005,
        config=config,
        multipliers={"GOLD_MINI": 10},
    )
    curve = equity_curve(result.closed, result.capital)
    for log in (False, True):
        figure = equity_chart(result, curve, log=log)
        figure.canvas.draw()
        equity_axes = figure.axes[0]
        labels = [t.get_text() for t in equity_axes.get_yticklabels() if t.get_text()]
        assert labels
        assert all(re.fullmatch(r"₹0|₹[\d.,]+ (L|Cr)", text) for text in labels), labels
        assert equity_axes.yaxis.get_offset_text().get_text() == ""
