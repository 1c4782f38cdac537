"""Found by bench/fuzz.py: a request whose error quotes a NUL character (in a field's name or value) was
answered but left no audit row (PostgreSQL text cannot hold NUL). Every request leaves one."""

from __future__ import annotations

import pytest

from tests.web.conftest import Webhook

HOSTILE = [
    '{"type": "EXIT", "instrument": "BANK_NIFTY", "price": 1, "x\\u0000y": 1, "secret": "test-secret"}',
    '{"type": "EXIT\\u0000", "instrument": "BANK_NIFTY", "price": 1, "secret": "test-secret"}',
    '{"type": "EXIT", "instrument": "BANK\\u0000NIFTY", "price": 1, "secret": "test-secret"}',
]


@pytest.mark.parametrize("body", HOSTILE)
async def test_a_request_whose_error_quotes_a_nul_is_still_audited(webhook: Webhook, body: str) -> None:
    status, reply = await webhook.post(body)
    assert status == 400, reply
    row = await webhook.services.pool.fetchrow("SELECT http_status, field, error FROM webhook_audit")
    assert row is not None, "the request left no audit row"
    assert row["http_status"] == 400
    assert "\x00" not in (row["field"] or "") + (row["error"] or "")
