"""The Monte Carlo and sweep reports stand alone and open in headless Chromium with their charts decoded; the
sweep's table sorts in the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from basso.cli import main
from tests.backtest.chromium import headless_chromium
from tests.research.data import basso_inputs
from tests.research.test_montecarlo import three_args

# Each test starts a local Dask cluster (worker processes), seconds on a loaded two-core machine.
pytestmark = pytest.mark.timeout(240)

IMAGES = """
(async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map(image => image.decode()));
  return {
    images: images.map(image => ({id: image.id, complete: image.complete, width: image.naturalWidth,
                                  height: image.naturalHeight, src: image.src.slice(0, 21)})),
    external: Array.from(document.querySelectorAll("[src],[href]")).map(e => e.src || e.href)
      .filter(url => !url.startsWith("data:")),
    cells: Array.from(document.querySelectorAll("td[data-key]")).map(cell => ({
      key: cell.dataset.key, band: cell.dataset.band || null, value: JSON.parse(cell.dataset.value)})),
  };
})()
"""

SORT_BY_MAX_DD = """
(() => {
  const header = document.querySelector('#results th[data-sort="max_drawdown_pct"]');
  const column = () => Array.from(document.querySelectorAll('#results tbody td[data-key="max_drawdown_pct"]'))
    .map(cell => JSON.parse(cell.dataset.value));
  header.click();
  const first = column();
  header.click();
  return {first: first, second: column()};
})()
"""


async def open_report(report: Path, profile: Path, expression: str) -> Any:
    async with headless_chromium(profile) as browser:
        session = await browser.open_page(report.as_uri())
        return await browser.evaluate(session, expression)


async def test_the_montecarlo_report_opens_with_its_three_charts_and_the_bands_of_summary_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mc"
    assert (
        main(
            [
                "montecarlo",
                *three_args(tmp_path),
                "--runs",
                "200",
                "--seed",
                "4",
                "--workers",
                "1",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    facts = await open_report(out / "report.html", tmp_path / "profile", IMAGES)
    assert [image["id"] for image in facts["images"]] == ["chart-fan", "chart-cagr", "chart-drawdown"]
    for image in facts["images"]:
        assert image["complete"]
        assert image["src"] == "data:image/png;base64"
        assert (image["width"], image["height"]) == (1000, 360)  # 10 × 3.6 inches at 100 dpi
    assert facts["external"] == []
    summary = json.loads((out / "summary.json").read_text())
    for cell in facts["cells"]:
        expected = summary["replay"][cell["key"]] if cell["band"] == "replay" else summary[cell["key"]][cell["band"]]
        assert cell["value"] == expected, cell


@pytest.mark.timeout(240)
async def test_the_sweep_report_opens_with_its_heat_map_and_sorts_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                *basso_inputs(tmp_path, count=30),
                "--grid",
                "risk_pct=0.5,1",
                "equity_mode=closed,blended",
                "--workers",
                "1",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    facts = await open_report(out / "report.html", tmp_path / "profile", IMAGES)
    [image] = facts["images"]
    assert image["id"] == "chart-heatmap"
    assert image["complete"]
    assert image["src"] == "data:image/png;base64"
    assert image["width"] == 1000
    assert facts["external"] == []
    drawdowns = [row["max_drawdown_pct"] for row in json.loads((out / "summary.json").read_text())["results"]]
    sorted_ = await open_report(out / "report.html", tmp_path / "profile2", SORT_BY_MAX_DD)
    assert sorted_["first"] == sorted(drawdowns, reverse=True)  # first click: largest first
    assert sorted_["second"] == sorted(drawdowns)
