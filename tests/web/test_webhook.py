"""`POST /webhook` through a real client: stored before acknowledged, duplicates harmless, bad input named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import SECRET, Webhook

PAYLOADS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "sample_webhook_payloads.json").read_text()
)


def payload(name: str = "BASE_ENTRY_BANK_NIFTY", **changes: Any) -> dict[str, Any]:
    """A sample payload stamped at the test's 'now', with the secret, and `changes` applied (None deletes)."""
    body = {**PAYLOADS[name], "timestamp": "2026-11-25T10:30:00", "secret": SECRET}
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


async def count(webhook: Webhook, table: str) -> int:
    return int(await webhook.services.pool.fetchval(f"SELECT count(*) FROM {table}"))


async def test_a_valid_signal_is_stored_then_acknowledged_and_wakes_the_processor(webhook: Webhook) -> None:
    status, reply = await webhook.post(orjson.dumps(payload()))
    assert status == 200
    assert reply["status"] == "accepted"
    row = await webhook.services.pool.fetchrow("SELECT key, kind, instrument, layer, outcome, payload FROM signals")
    assert row is not None
    assert (row["key"], row["kind"], row["instrument"], row["layer"], row["outcome"]) == (
        reply["signal_id"],
        "BASE_ENTRY",
        "BANK_NIFTY",
        1,
        "pending",
    )
    assert "secret" not in orjson.loads(row["payload"])
    assert webhook.wakes == [1]


async def test_the_same_signal_twice_is_a_duplicate_and_changes_nothing(webhook: Webhook) -> None:
    first = await webhook.post(orjson.dumps(payload()))
    # The same instant written with an offset and a fraction of a second is the same signal (docs/rules.md §9).
    second = await webhook.post(orjson.dumps(payload(timestamp="2026-11-25T05:00:00.400Z")))
    assert first[1]["status"] == "accepted"
    assert second == (200, {"status": "duplicate", "signal_id": first[1]["signal_id"]})
    assert await count(webhook, "signals") == 1
    assert webhook.wakes == [1]


async def test_an_entry_without_supertrend_is_accepted(webhook: Webhook) -> None:
    status, reply = await webhook.post(orjson.dumps(payload(supertrend=None)))
    assert (status, reply["status"]) == (200, "accepted")


async def test_a_missing_timestamp_is_400_saying_to_add_timenow(webhook: Webhook) -> None:
    status, reply = await webhook.post(orjson.dumps(payload(timestamp=None)))
    assert (status, reply["field"]) == (400, "timestamp")
    assert '"timestamp": "{{timenow}}"' in str(reply["error"])


async def test_the_secret_may_travel_in_a_header(webhook: Webhook) -> None:
    status, reply = await webhook.post(orjson.dumps(payload(secret=None)), headers={"X-Basso-Secret": SECRET})
    assert (status, reply["status"]) == (200, "accepted")


@pytest.mark.parametrize("secret", [None, "", "wrong", "test-secret ", "TEST-SECRET"])
async def test_a_missing_or_wrong_secret_is_401_and_reveals_nothing(webhook: Webhook, secret: str | None) -> None:
    body = payload(secret=None) if secret is None else {**payload(), "secret": secret}
    status, reply = await webhook.post(orjson.dumps(body))
    assert (status, reply) == (401, {"status": "error", "error": "unauthorised"})
    assert await count(webhook, "signals") == 0
    audit = await webhook.services.pool.fetchrow("SELECT http_status, verdict, body FROM webhook_audit")
    assert audit is not None
    assert (audit["http_status"], audit["verdict"]) == (401, "unauthorised")
    assert SECRET not in audit["body"]


async def test_a_malformed_body_carrying_the_secret_is_audited_without_it(webhook: Webhook) -> None:
    status, _reply = await webhook.post(b'{"secret": "' + SECRET.encode() + b'", "type": ')
    assert status == 400
    body = await webhook.services.pool.fetchval("SELECT body FROM webhook_audit")
    assert SECRET not in body
    assert "***" in body


async def test_a_stale_signal_is_stored_and_rejected_with_the_reason(webhook: Webhook) -> None:
    # 10:20 IST is 600 s before the server's 10:30 IST: older than the 300 s default.
    status, reply = await webhook.post(orjson.dumps(payload(timestamp="2026-11-25T10:20:00")))
    assert status == 200
    assert reply["status"] == "rejected"
    assert "older than the 300 s limit" in str(reply["reason"])
    outcome = await webhook.services.pool.fetchval("SELECT outcome FROM signals")
    assert outcome == "rejected"
    assert webhook.wakes == []


async def test_a_body_over_10_kib_is_413_and_stores_no_signal(webhook: Webhook) -> None:
    body = orjson.dumps(payload(note="x" * 11 * 1024))
    status, reply = await webhook.post(body)
    assert status == 413
    assert reply["field"] == "body"
    assert await count(webhook, "signals") == 0
    assert await count(webhook, "webhook_audit") == 1


async def test_a_source_over_its_rate_is_429_until_its_bucket_refills(webhook: Webhook) -> None:
    webhook.services.limiter.per_minute = 2
    bodies = [orjson.dumps(payload(signal_id=f"s{i}")) for i in range(4)]
    assert (await webhook.post(bodies[0]))[0] == 200
    assert (await webhook.post(bodies[1]))[0] == 200
    assert (await webhook.post(bodies[2]))[0] == 429
    webhook.clock.now += 30.0  # half a minute refills one of two tokens
    assert (await webhook.post(bodies[3]))[0] == 200


# Each bad request, the field its 400 must name.
BAD_REQUESTS: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "body"),
    ("whitespace", b"   ", "body"),
    ("not json", b"type=BASE_ENTRY", "body"),
    ("truncated json", orjson.dumps(payload())[:-5], "body"),
    ("array", orjson.dumps([payload()]), "body"),
    ("string", b'"BASE_ENTRY"', "body"),
    ("number", b"42", "body"),
    ("null", b"null", "body"),
    ("invalid utf-8", b'{"type": "\xff\xfe"}', "body"),
    ("NaN literal", orjson.dumps(payload()).replace(b'"price":52000', b'"price":NaN'), "body"),
    ("Infinity literal", orjson.dumps(payload()).replace(b'"atr":350', b'"atr":Infinity'), "body"),
    ("overflowing number", orjson.dumps(payload()).replace(b'"atr":350', b'"atr":1e400'), "body"),
    ("secret not a string", orjson.dumps({**payload(), "secret": 5}), "secret"),
]
MISSING = [
    ("type", "type"),
    ("instrument", "instrument"),
    ("position", "position"),
    ("price", "price"),
    ("stop", "stop"),
    ("atr", "atr"),
    ("er", "er"),
    ("timestamp", "timestamp"),
    ("lots", "lots"),
]
BAD_REQUESTS += [
    (f"missing {name}", orjson.dumps(payload("BASE_ENTRY_BANK_NIFTY", **{name: None})), field)
    for name, field in MISSING
]
BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("price as string", {"price": "52000"}, "price"),
    ("price true", {"price": True}, "price"),
    ("price zero", {"price": 0}, "price"),
    ("price negative", {"price": -52000}, "price"),
    ("stop equal to price", {"stop": 52000}, "stop"),
    ("stop above price", {"stop": 52100}, "stop"),
    ("stop zero", {"stop": 0}, "stop"),
    ("atr zero", {"atr": 0}, "atr"),
    ("atr negative", {"atr": -1}, "atr"),
    ("atr false", {"atr": False}, "atr"),
    ("er above one", {"er": 1.5}, "er"),
    ("er negative", {"er": -0.1}, "er"),
    ("lots negative", {"lots": -1}, "lots"),
    ("lots fractional", {"lots": 2.5}, "lots"),
    ("lots string", {"lots": "5"}, "lots"),
    ("unknown instrument", {"instrument": "CRUDE"}, "instrument"),
    ("instrument number", {"instrument": 7}, "instrument"),
    ("unknown type", {"type": "SELL"}, "type"),
    ("type null", {"type": 0}, "type"),
    ("unknown position", {"position": "Long_9"}, "position"),
    ("position lower case", {"position": "long_1"}, "position"),
    ("ALL on an entry", {"position": "ALL"}, "position"),
    ("timestamp garbage", {"timestamp": "yesterday"}, "timestamp"),
    ("timestamp number", {"timestamp": 1733030400}, "timestamp"),
    ("timestamp bad month", {"timestamp": "2025-13-01T10:30:00"}, "timestamp"),
    ("supertrend string", {"supertrend": "high"}, "supertrend"),
    ("roc string", {"roc": "fast"}, "roc"),
    ("nested unknown field", {"extra": {"a": 1}}, "extra"),
    ("array unknown field", {"tags": [1, 2]}, "tags"),
    ("signal_id empty", {"signal_id": ""}, "signal_id"),
    ("signal_id number", {"signal_id": 12}, "signal_id"),
]
BAD_REQUESTS += [(name, orjson.dumps(payload(**changes)), field) for name, changes, field in BAD_VALUES]
BAD_REQUESTS += [
    ("EXIT without reason", orjson.dumps(payload("EXIT_STOP_LOSS", reason=None)), "reason"),
    ("EXIT with empty reason", orjson.dumps(payload("EXIT_STOP_LOSS", reason="")), "reason"),
    (
        "market data without atr",
        orjson.dumps(
            {
                "type": "MARKET_DATA",
                "instrument": "GOLD_MINI",
                "price": 78000,
                "timestamp": "2026-11-25T10:30:00",
                "secret": SECRET,
            }
        ),
        "atr",
    ),
]


def test_the_bad_request_table_is_large() -> None:
    assert len(BAD_REQUESTS) >= 40


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD_REQUESTS], ids=[n for n, _, _ in BAD_REQUESTS])
async def test_a_bad_request_is_400_naming_the_field_and_only_the_audit_is_written(
    webhook: Webhook, body: bytes, field: str
) -> None:
    status, reply = await webhook.post(body)
    assert status == 400, reply
    assert reply["status"] == "error"
    assert reply["field"] == field
    assert isinstance(reply["error"], str)
    assert reply["error"]
    assert await count(webhook, "signals") == 0
    assert await count(webhook, "webhook_audit") == 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    [
        "type",
        "instrument",
        "position",
        "price",
        "stop",
        "lots",
        "atr",
        "er",
        "supertrend",
        "timestamp",
        "reason",
        "signal_id",
        "roc",
        "secret",
        "other",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(FIELDS, JSON_VALUES, max_size=12)
        .map(lambda d: {**payload(), **d})
        # The standard library writes what orjson will not: huge integers, NaN and Infinity literals.
        .map(lambda d: json.dumps(d).encode()),
    )
)
async def test_random_bodies_never_get_a_5xx(webhook: Webhook, body: bytes) -> None:
    status, _reply = await webhook.post(body)
    assert status in (200, 400, 401, 413)
