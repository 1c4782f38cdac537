"""What `basso run` writes to its log: one INFO line per outcome, and where the secrets are kept, never them."""

from __future__ import annotations

from pathlib import Path

from basso.embedded import EmbeddedRedis
from tests.process.test_restart import sample
from tests.processes import running


async def test_every_outcome_is_one_info_line_and_the_secrets_stay_in_their_files(
    fresh_database: str, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # No secret in the environment: basso run generates both and keeps them in the data directory.
    async with running(
        fresh_database, redis_server.url, data, extra_env={"BASSO_WEBHOOK_SECRET": "", "BASSO_ADMIN_TOKEN": ""}
    ) as basso:
        secret = (data / "webhook-secret").read_text().strip()
        token = (data / "admin-token").read_text().strip()
        for name, signal_id in [("BASE_ENTRY_BANK_NIFTY", "bn-1"), ("EXIT_TRAILING_STOP", "bn-exit-2")]:
            status, reply = await basso.post(sample(name, signal_id).replace(b"process-secret", secret.encode()))
            assert (status, reply["status"]) == (200, "accepted"), reply
            await basso.wait_processed(signal_id)
        entry = await basso.wait_log("signal bn-1 ")
        exit_ = await basso.wait_log("signal bn-exit-2 ")
        assert await basso.terminate() == 0
    # Bank Nifty on ₹50,00,000: Lot-R = 50,00,000 × 0.5 % ÷ (350 × 30) × 0.82 = 1.95 → 1 lot, the smallest of
    # Lot-R, Lot-V and Lot-M (tests/web/test_pipeline_samples.py). Long_2 was never opened: nothing to exit.
    assert entry.split(" INFO ", 1)[1] == (
        "basso.server: signal bn-1 (BASE_ENTRY BANK_NIFTY Long_1): executed, 1 lot — 1 lot, risk-limited\n"
    )
    assert exit_.split(" INFO ", 1)[1].startswith(
        "basso.server: signal bn-exit-2 (EXIT BANK_NIFTY Long_2): ignored, 0 lots — "
    )
    log = "".join(basso.log)
    assert f"generated the webhook secret in {data.resolve() / 'webhook-secret'}" in log
    assert f"generated the admin token in {data.resolve() / 'admin-token'}" in log
    assert secret not in log
    assert token not in log
