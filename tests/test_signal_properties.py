"""Property tests of webhook parsing: any body is a signal or a SignalError, and valid signals round-trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basso.config import Config, load_config
from basso.rules.signals import (
    MAX_LAYER,
    MarketData,
    SignalError,
    SignalType,
    TradingSignal,
    idempotency_key,
    parse_signal,
    parse_webhook,
    to_payload,
)
from basso.timeutil import IST

CONFIG = load_config()  # hypothesis runs a test many times; function-scoped fixtures would be shared anyway
FIELDS = [
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
    "roc",
    "reason",
    "signal_id",
    "secret",
    "high",
    "low",
]
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
plausible = st.sampled_from(
    [
        "BASE_ENTRY",
        "pyramid",
        "EXIT",
        "market_data",
        "BANK_NIFTY",
        "gold_mini",
        "Long_1",
        "Long_3",
        "ALL",
        "2025-12-01T10:30:00",
        "2025-12-01T05:00:00Z",
        "Stop",
        "",
    ]
)
numbers = st.integers(min_value=-10, max_value=100_000) | st.floats(min_value=-1e10, max_value=1e10)


def only_signal_errors(raw: bytes) -> None:
    """Parse `raw`: a valid signal must satisfy the contract, anything else must be a SignalError."""
    try:
        signal = parse_webhook(raw, CONFIG).signal
    except SignalError as exc:
        error = exc
    else:
        assert_keeps_the_contract(signal)
        return
    assert error.field
    assert error.message


def assert_keeps_the_contract(signal: TradingSignal | MarketData) -> None:
    """What every parsed signal guarantees its consumers."""
    assert signal.timestamp.utcoffset() is not None
    assert signal.instrument in CONFIG.instruments
    assert signal.price > 0
    if isinstance(signal, TradingSignal) and signal.is_entry:
        assert signal.stop is not None
        assert signal.atr is not None
        assert signal.er is not None
        assert 0 < signal.stop < signal.price
        assert signal.atr > 0
        assert 0 <= signal.er <= 1
    if isinstance(signal, TradingSignal):
        assert signal.lots >= 0
        assert signal.type is not SignalType.EXIT or signal.reason
    assert len(idempotency_key(signal)) > 0


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_signal_or_a_signal_error(raw: bytes) -> None:
    only_signal_errors(raw)


@PROPERTY
@given(json_values)
def test_arbitrary_json_is_a_signal_or_a_signal_error(value: Any) -> None:
    only_signal_errors(orjson.dumps(value))


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS), plausible | numbers | json_values, max_size=16))
def test_objects_made_of_signal_fields_are_a_signal_or_a_signal_error(body: dict[str, Any]) -> None:
    only_signal_errors(orjson.dumps(body))


@PROPERTY
@given(st.sampled_from(FIELDS), json_values | plausible | numbers)
def test_a_valid_entry_with_one_field_replaced_is_a_signal_or_a_signal_error(name: str, value: Any) -> None:
    valid = {
        "type": "BASE_ENTRY",
        "instrument": "BANK_NIFTY",
        "position": "Long_1",
        "price": 52000,
        "stop": 51650,
        "lots": 5,
        "atr": 350,
        "er": 0.82,
        "supertrend": 51650,
        "timestamp": "2025-12-01T10:30:00",
    }
    only_signal_errors(orjson.dumps({**valid, name: value}))


# --- valid signals round-trip ------------------------------------------------------------------------

zones = st.sampled_from([UTC, IST, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=45))])
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones)
prices = st.floats(min_value=0.05, max_value=1e7)
maybe_text = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)
signal_ids = st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", fullmatch=True)


@st.composite
def trading_signals(draw: st.DrawFn) -> TradingSignal:
    """Any valid BASE_ENTRY, PYRAMID or EXIT."""
    kind = draw(st.sampled_from(SignalType))
    price = draw(prices)
    layer = {
        SignalType.BASE_ENTRY: st.just(1),
        SignalType.PYRAMID: st.integers(2, MAX_LAYER),
        SignalType.EXIT: st.none() | st.integers(1, MAX_LAYER),
    }[kind]
    entry = kind is not SignalType.EXIT

    def optional(floats: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
        return floats if entry else st.none() | floats

    reason = draw(maybe_text)
    reason = reason.strip() or None if reason is not None else None
    if not entry and reason is None:
        reason = "Stop Loss Hit"
    return TradingSignal(
        type=kind,
        instrument=draw(st.sampled_from(sorted(CONFIG.instruments))),
        layer=draw(layer),
        price=price,
        stop=draw(st.floats(min_value=price / 1000, max_value=price, exclude_max=True)) if entry else None,
        lots=draw(st.integers(0, 1000)),
        atr=draw(optional(st.floats(min_value=0.01, max_value=1e5))),
        er=draw(optional(st.floats(min_value=0, max_value=1))),
        supertrend=draw(optional(st.floats(min_value=-1e6, max_value=1e6))),
        timestamp=draw(moments),
        roc=draw(st.none() | st.floats(min_value=-100, max_value=100)),
        reason=reason,
        signal_id=draw(signal_ids),
    )


market_data = st.builds(
    lambda price, atr, up, down, moment, signal_id, high, low: MarketData(
        instrument="GOLD_MINI",
        timestamp=moment,
        price=price,
        atr=atr,
        high=price + up if high else None,
        low=max(price - down, price / 2) if low else None,
        signal_id=signal_id,
    ),
    prices,
    st.floats(min_value=0.01, max_value=1e5),
    st.floats(0, 1e5),
    st.floats(0, 1e5),
    moments,
    signal_ids,
    st.booleans(),
    st.booleans(),
)


@PROPERTY
@given(trading_signals() | market_data)
def test_valid_signals_round_trip_through_json(signal: TradingSignal | MarketData) -> None:
    parsed = parse_signal(orjson.dumps(to_payload(signal)), CONFIG)
    assert parsed == signal
    assert idempotency_key(parsed) == idempotency_key(signal)


@PROPERTY
@given(trading_signals(), st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30))
def test_the_secret_travels_beside_the_signal_and_never_changes_it(signal: TradingSignal, secret: str) -> None:
    parsed = parse_webhook(orjson.dumps({**to_payload(signal), "secret": secret}), CONFIG)
    assert parsed.signal == signal
    assert parsed.secret == secret


@PROPERTY
@given(moments, st.integers(0, 999_999))
def test_key_ignores_the_fraction_and_the_offset_of_the_same_second(moment: datetime, micros: int) -> None:
    config: Config = CONFIG
    second = moment.replace(microsecond=0)
    base = {"type": "EXIT", "instrument": "BANK_NIFTY", "position": "ALL", "price": 52000, "reason": "x"}
    as_given = parse_signal(orjson.dumps({**base, "timestamp": second.isoformat()}), config)
    in_ist = second.astimezone(IST).replace(microsecond=micros, tzinfo=None)  # IST wall-clock, no offset
    shifted = parse_signal(orjson.dumps({**base, "timestamp": in_ist.isoformat()}), config)
    assert idempotency_key(shifted) == idempotency_key(as_given)
