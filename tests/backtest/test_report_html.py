"""The HTML report stands alone, opens in a real browser, shows its charts, and agrees with summary.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from basso.backtest.report import indian_rupees
from basso.cli import main

from .chromium import headless_chromium
from .exports import BANK_NIFTY_EXPORT, GOLD_EXPORT

BOTH = ["--trades", f"GOLD_MINI={GOLD_EXPORT}", "--trades", f"BANK_NIFTY={BANK_NIFTY_EXPORT}",
        "--multiplier", "GOLD_MINI=10", "--multiplier", "BANK_NIFTY=35",
        "--commission", "0.0005", "--commission", "BANK_NIFTY=0.001"]

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


async def test_report_opens_in_chromium_with_its_three_charts_decoded(report_dir: Path, tmp_path: Path) -> None:
    facts = await page_facts(report_dir / "report.html", tmp_path / "profile")
    assert [image["id"] for image in facts["images"]] == ["chart-equity", "chart-drawdown", "chart-exposure"]
    for image in facts["images"]:
        assert image["complete"]
        assert image["src"] == "data:image/png;base64"  # embedded: the file stands alone
        assert (image["width"], image["height"]) == (1000, 360)  # 10 × 3.6 inches at 100 dpi
    assert facts["external"] == []


async def test_report_figures_in_the_browser_match_summary_json(report_dir: Path, tmp_path: Path) -> None:
    summary = json.loads((report_dir / "summary.json").read_text())
    facts = await page_facts(report_dir / "report.html", tmp_path / "profile")
    cells = {(cell["scope"], cell["key"]): cell for cell in facts["cells"]}
    scopes = {"portfolio": summary, **summary["per_instrument"]}
    for scope, figures in scopes.items():
        for key in ("net_pnl", "final_equity", "trades_closed", "winners", "win_rate_pct", "profit_factor",
                    "max_drawdown_pct", "max_lots", "cagr_pct"):
            assert cells[(scope, key)]["value"] == figures[key], (scope, key)
    gold = cells[("GOLD_MINI", "net_pnl")]
    assert gold["text"] == indian_rupees(summary["per_instrument"]["GOLD_MINI"]["net_pnl"])
    assert cells[("BANK_NIFTY", "max_drawdown_pct")]["text"] == "28.26 %"
    assert cells[("GOLD_MINI", "win_rate_pct")]["text"] == "40.16 %"
    assert cells[("GOLD_MINI", "profit_factor")]["text"] == "1.885"
    assert cells[("portfolio", "trades_closed")]["text"] == "958"


@pytest.mark.parametrize(("amount", "shown"), [
    (30603208.39, "₹3,06,03,208.39"),
    (-52963.75, "−₹52,963.75"),
    (999.5, "₹999.50"),
    (100000, "₹1,00,000.00"),
    (0, "₹0.00"),
])
def test_rupees_are_grouped_in_lakhs_and_crores(amount: float, shown: str) -> None:
    assert indian_rupees(amount) == shown
