"""Webhook signal parsing (docs/rules.md §9): the samples, the bad-input table, idempotency keys, IST and timing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from basso.config import Config, load_config
from basso.rules.signals import (
    MarketData,
    SignalError,
    SignalType,
    TradingSignal,
    check_body_size,
    decode_body,
    idempotency_key,
    is_future_dated,
    is_stale,
    parse_signal,
    parse_webhook,
    read_secret,
    secret_matches,
    signal_from_object,
    timing_problem,
    to_payload,
)
from basso.timeutil import IST

DATA = Path(__file__).resolve().parent / "data"

ENTRY: dict[str, Any] = {
    "type": "BASE_ENTRY",
    "instrument": "BANK_NIFTY",
    "position": "Long_1",
    "price": 52000,
    "stop": 51650,
    "lots": 5,
    "atr": 350,
    "er": 0.82,
    "supertrend": 51650,
    "timestamp": "2025-12-01T10:30:00+05:30",
}
PYRAMID: dict[str, Any] = {**ENTRY, "type": "PYRAMID", "position": "Long_2", "price": 52500, "stop": 52000}
EXIT: dict[str, Any] = {
    "type": "EXIT",
    "instrument": "BANK_NIFTY",
    "position": "Long_1",
    "price": 51600,
    "reason": "Stop Loss Hit",
    "timestamp": "2025-12-01T10:30:00+05:30",
}
BAR: dict[str, Any] = {
    "type": "MARKET_DATA",
    "instrument": "GOLD_MINI",
    "timestamp": "2025-12-01T10:30:00+05:30",
    "price": 78500,
    "atr": 450,
    "high": 78600,
    "low": 78300,
}


def body(base: dict[str, Any], **changes: Any) -> bytes:
    """`base` with fields replaced, as JSON."""
    return orjson.dumps({**base, **changes})


def without(base: dict[str, Any], name: str) -> bytes:
    """`base` without one field, as JSON."""
    return orjson.dumps({k: v for k, v in base.items() if k != name})


def raw_entry(price_literal: str) -> bytes:
    """A base entry whose price is written as a raw JSON literal (for NaN, Infinity, 1e400)."""
    return body(ENTRY, price=0).replace(b'"price":0', b'"price":' + price_literal.encode())


def padded(base: dict[str, Any], size: int) -> bytes:
    """`base` with an unknown string field padding the body to exactly `size` bytes."""
    short = body(base, note="")
    return body(base, note="x" * (size - len(short)))


# --- the shipped samples -----------------------------------------------------------------------------

SAMPLES = orjson.loads((DATA / "sample_webhook_payloads.json").read_bytes())


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_shipped_sample_parses_and_round_trips_through_its_payload(config: Config, name: str) -> None:
    signal = parse_signal(orjson.dumps(SAMPLES[name]), config)
    assert signal_from_object(to_payload(signal), config) == signal
    assert signal.instrument == SAMPLES[name]["instrument"]


def test_bank_nifty_base_entry_sample_carries_its_numbers(config: Config) -> None:
    signal = parse_signal(orjson.dumps(SAMPLES["BASE_ENTRY_BANK_NIFTY"]), config)
    assert isinstance(signal, TradingSignal)
    assert signal.type is SignalType.BASE_ENTRY
    assert (signal.instrument, signal.layer, signal.position) == ("BANK_NIFTY", 1, "Long_1")
    assert (signal.price, signal.stop, signal.lots, signal.atr) == (52000.0, 51650.0, 5, 350.0)
    assert (signal.er, signal.supertrend, signal.roc) == (0.82, 51650.0, 2.5)
    # 10:30 UTC is 16:00 IST.
    assert signal.timestamp == datetime(2025, 11, 28, 16, 0, tzinfo=IST)
    assert signal.reason is None
    assert signal.signal_id is None
    assert signal.is_entry


def test_gold_base_and_bank_nifty_pyramid_samples_carry_their_numbers(config: Config) -> None:
    gold = parse_signal(orjson.dumps(SAMPLES["BASE_ENTRY_GOLD_MINI"]), config)
    pyramid = parse_signal(orjson.dumps(SAMPLES["PYRAMID_BANK_NIFTY_LONG_3"]), config)
    assert isinstance(gold, TradingSignal)
    assert isinstance(pyramid, TradingSignal)
    assert (gold.instrument, gold.price, gold.stop, gold.atr, gold.er, gold.lots) == (
        "GOLD_MINI",
        72000.0,
        71500.0,
        500.0,
        0.75,
        3,
    )
    assert (pyramid.type, pyramid.layer, pyramid.price, pyramid.stop) == (SignalType.PYRAMID, 3, 52400.0, 52000.0)


def test_exit_samples_name_their_layer_or_all_and_ignore_the_stop(config: Config) -> None:
    stop_loss = parse_signal(orjson.dumps(SAMPLES["EXIT_STOP_LOSS"]), config)
    trailing = parse_signal(orjson.dumps(SAMPLES["EXIT_TRAILING_STOP"]), config)
    every = parse_signal(orjson.dumps(SAMPLES["EXIT_ALL"]), config)
    assert isinstance(stop_loss, TradingSignal)
    assert isinstance(trailing, TradingSignal)
    assert isinstance(every, TradingSignal)
    assert (stop_loss.layer, stop_loss.reason, stop_loss.price, stop_loss.stop) == (1, "Stop Loss Hit", 51600.0, None)
    assert (trailing.layer, trailing.reason) == (2, "Trailing Stop Hit")
    assert (every.layer, every.position, every.reason, every.price) == (None, "ALL", "Manual Exit", 52500.0)
    assert not every.is_entry


# --- the bad-input table -----------------------------------------------------------------------------

BAD_BODIES = [
    # the whole body
    pytest.param(b"", "body", id="empty body"),
    pytest.param(b"  \n\t", "body", id="whitespace body"),
    pytest.param(b"[]", "body", id="empty array"),
    pytest.param(orjson.dumps([ENTRY]), "body", id="array of a valid signal"),
    pytest.param(b"42", "body", id="number"),
    pytest.param(b'"BASE_ENTRY"', "body", id="string"),
    pytest.param(b"null", "body", id="null"),
    pytest.param(b"type=BASE_ENTRY&price=52000", "body", id="form encoded, not JSON"),
    pytest.param(body(ENTRY)[:-5], "body", id="truncated JSON"),
    pytest.param(body(ENTRY, reason="x").replace(b'"x"', b'"\xff\xfe"'), "body", id="invalid UTF-8"),
    pytest.param(raw_entry("NaN"), "body", id="NaN literal"),
    pytest.param(raw_entry("Infinity"), "body", id="Infinity literal"),
    pytest.param(raw_entry("-Infinity"), "body", id="minus Infinity literal"),
    pytest.param(raw_entry("1e400"), "body", id="number overflowing to infinity"),
    pytest.param(padded(ENTRY, 10241), "body", id="one byte over the 10 KiB limit"),
    # each required field missing, per type
    *(
        pytest.param(without(ENTRY, name), name, id=f"BASE_ENTRY without {name}")
        for name in ("type", "instrument", "position", "price", "stop", "lots", "atr", "er", "timestamp")
    ),
    pytest.param(without(PYRAMID, "stop"), "stop", id="PYRAMID without stop"),
    pytest.param(without(PYRAMID, "atr"), "atr", id="PYRAMID without atr"),
    *(
        pytest.param(without(EXIT, name), name, id=f"EXIT without {name}")
        for name in ("instrument", "position", "price", "timestamp", "reason")
    ),
    *(
        pytest.param(without(BAR, name), name, id=f"MARKET_DATA without {name}")
        for name in ("instrument", "timestamp", "price", "atr")
    ),
    # wrong types
    pytest.param(body(ENTRY, price="52000"), "price", id="price as a string"),
    pytest.param(body(ENTRY, price=True), "price", id="price as true"),
    pytest.param(body(ENTRY, price={"value": 52000}), "price", id="price as an object"),
    pytest.param(body(ENTRY, price=None), "price", id="price null"),
    pytest.param(body(ENTRY, stop=False), "stop", id="stop as false"),
    pytest.param(body(ENTRY, atr=None), "atr", id="atr null"),
    pytest.param(body(ENTRY, er="0.82"), "er", id="er as a string"),
    pytest.param(body(ENTRY, supertrend="{{plot_0}}"), "supertrend", id="unfilled template placeholder"),
    pytest.param(body(ENTRY, roc="fast"), "roc", id="roc as a string"),
    pytest.param(body(ENTRY, roc=[2.5]), "roc", id="roc as an array"),
    pytest.param(body(ENTRY, lots=2.0), "lots", id="lots 2.0 (strict: integers only)"),
    pytest.param(body(ENTRY, lots=2.5), "lots", id="lots fractional"),
    pytest.param(body(ENTRY, lots="5"), "lots", id="lots as a string"),
    pytest.param(body(ENTRY, lots=True), "lots", id="lots as true"),
    pytest.param(body(ENTRY, lots=-1), "lots", id="lots negative"),
    pytest.param(body(ENTRY, lots=10_000_000), "lots", id="lots absurdly large"),
    pytest.param(body(ENTRY, price=1e12), "price", id="price beyond any market"),
    pytest.param(
        body(ENTRY).replace(b'"price":52000', b'"price":' + b"9" * 30), "price", id="price integer with 30 digits"
    ),
    pytest.param(body(ENTRY, type=5), "type", id="type as a number"),
    pytest.param(body(ENTRY, type="ENTRY"), "type", id="unknown type"),
    pytest.param(body(ENTRY, type=""), "type", id="empty type"),
    pytest.param(body(PYRAMID, type="pyramıd"), "type", id="type with a dotless i that upper-cases to I"),
    pytest.param(body(ENTRY, instrument="NIFTY"), "instrument", id="unknown instrument"),
    pytest.param(body(ENTRY, instrument=7), "instrument", id="instrument as a number"),
    pytest.param(body(ENTRY, instrument="bank_nıfty"), "instrument", id="instrument with a dotless i"),
    pytest.param(body(ENTRY, position=1), "position", id="position as a number"),
    pytest.param(body(EXIT, position="Long_7"), "position", id="position beyond Long_6"),
    pytest.param(body(EXIT, position="long_1"), "position", id="position in the wrong case"),
    pytest.param(body(EXIT, position="Long_0"), "position", id="position Long_0"),
    pytest.param(body(EXIT, position="all"), "position", id="all in lower case"),
    pytest.param(body(ENTRY, position="ALL"), "position", id="ALL on a base entry"),
    pytest.param(body(PYRAMID, position="ALL"), "position", id="ALL on a pyramid"),
    pytest.param(body(PYRAMID, position="Long_1"), "position", id="pyramid on the base layer"),
    pytest.param(body(ENTRY, position="Long_2"), "position", id="base entry on a pyramid layer"),
    # numbers out of range
    pytest.param(body(ENTRY, price=0), "price", id="zero price"),
    pytest.param(body(ENTRY, price=-52000), "price", id="negative price"),
    pytest.param(body(EXIT, price=0), "price", id="EXIT at zero price"),
    pytest.param(body(ENTRY, stop=0), "stop", id="zero stop"),
    pytest.param(body(ENTRY, stop=-1), "stop", id="negative stop"),
    pytest.param(body(ENTRY, stop=52000), "stop", id="stop equal to price"),
    pytest.param(body(PYRAMID, stop=53000), "stop", id="stop above price"),
    pytest.param(body(ENTRY, atr=0), "atr", id="zero atr on an entry"),
    pytest.param(body(ENTRY, atr=-350), "atr", id="negative atr"),
    pytest.param(body(ENTRY, er=1.2), "er", id="er above 1"),
    pytest.param(body(ENTRY, er=-0.1), "er", id="er below 0"),
    # EXIT rules
    pytest.param(body(EXIT, reason=""), "reason", id="EXIT with an empty reason"),
    pytest.param(body(EXIT, reason="   "), "reason", id="EXIT with a blank reason"),
    pytest.param(body(EXIT, reason=None), "reason", id="EXIT with a null reason"),
    pytest.param(body(EXIT, reason=5), "reason", id="EXIT with a numeric reason"),
    pytest.param(body(EXIT, stop="none"), "stop", id="EXIT stop ignored but not as a string"),
    pytest.param(body(EXIT, atr=-1), "atr", id="EXIT with a negative atr"),
    pytest.param(body(EXIT, er=2), "er", id="EXIT with er above 1"),
    pytest.param(body(EXIT, lots=1.5), "lots", id="EXIT with fractional lots"),
    # timestamps
    pytest.param(body(ENTRY, timestamp="yesterday"), "timestamp", id="timestamp words"),
    pytest.param(body(ENTRY, timestamp=""), "timestamp", id="empty timestamp"),
    pytest.param(body(ENTRY, timestamp=1764565200), "timestamp", id="timestamp as epoch seconds"),
    pytest.param(body(ENTRY, timestamp="2025-12-01"), "timestamp", id="date without a time"),
    pytest.param(body(ENTRY, timestamp="20251201T103000"), "timestamp", id="basic format without dashes"),
    pytest.param(body(ENTRY, timestamp="2025-13-01T10:30:00"), "timestamp", id="month 13"),
    pytest.param(body(ENTRY, timestamp="2025-02-30T10:30:00"), "timestamp", id="30 February"),
    pytest.param(body(ENTRY, timestamp="2025-12-01T25:00:00"), "timestamp", id="hour 25"),
    pytest.param(body(ENTRY, timestamp="2025-12-01T10:30:00+25:00"), "timestamp", id="offset beyond a day"),
    pytest.param(body(ENTRY, timestamp="0001-01-01T00:00:00"), "timestamp", id="IST midnight of year 1 has no UTC"),
    pytest.param(body(ENTRY, timestamp="2025-12-01T10:30:00 IST"), "timestamp", id="zone abbreviation"),
    # signal_id and secret
    pytest.param(body(ENTRY, signal_id=""), "signal_id", id="empty signal_id"),
    pytest.param(body(ENTRY, signal_id="x" * 129), "signal_id", id="signal_id of 129 characters"),
    pytest.param(body(ENTRY, signal_id=123), "signal_id", id="signal_id as a number"),
    pytest.param(body(ENTRY, signal_id="a\nb"), "signal_id", id="signal_id with a newline"),
    pytest.param(body(ENTRY, signal_id=" abc"), "signal_id", id="signal_id with a leading space"),
    pytest.param(body(ENTRY, secret=12345), "secret", id="secret as a number"),
    # unknown fields and NUL characters
    pytest.param(body(ENTRY, meta={"strategy": "ITJ"}), "meta", id="nested object in an unknown field"),
    pytest.param(body(ENTRY, tags=["trend"]), "tags", id="array in an unknown field"),
    pytest.param(body(EXIT, reason="Stop\u0000Hit"), "reason", id="NUL in the reason"),
    pytest.param(body(ENTRY, note="a\u0000b"), "note", id="NUL in an unknown field"),
    # market data
    pytest.param(body(BAR, price=0), "price", id="bar with zero close"),
    pytest.param(body(BAR, atr=0), "atr", id="bar with zero atr"),
    pytest.param(body(BAR, high=78400), "high", id="bar high below the close"),
    pytest.param(body(BAR, low=78700), "low", id="bar low above the close"),
    pytest.param(body(BAR, high="78600"), "high", id="bar high as a string"),
    pytest.param(body(BAR, low=True), "low", id="bar low as true"),
    pytest.param(body(BAR, extra={"x": 1}), "extra", id="bar with a nested unknown field"),
]


def test_the_bad_input_table_is_at_least_45_bodies() -> None:
    assert len(BAD_BODIES) >= 45


@pytest.mark.parametrize(("raw", "field"), BAD_BODIES)
def test_bad_body_is_refused_with_the_field_named(config: Config, raw: bytes, field: str) -> None:
    with pytest.raises(SignalError) as caught:
        parse_signal(raw, config)
    assert caught.value.field == field
    assert field in str(caught.value)


# --- accepted variations -----------------------------------------------------------------------------


def test_type_and_instrument_are_case_insensitive_and_canonicalised(config: Config) -> None:
    signal = parse_signal(body(ENTRY, type="base_entry", instrument="Bank_Nifty"), config)
    assert isinstance(signal, TradingSignal)
    assert (signal.type, signal.instrument) == (SignalType.BASE_ENTRY, "BANK_NIFTY")


def test_unknown_scalar_fields_are_accepted_and_dropped(config: Config) -> None:
    signal = parse_signal(body(EXIT, entry_price=52000, comment="Pine V9", test=True, nothing=None), config)
    assert signal == parse_signal(body(EXIT), config)
    assert "entry_price" not in to_payload(signal)


def test_exit_needs_only_its_own_fields_and_records_what_else_it_gets(config: Config) -> None:
    bare = parse_signal(body(EXIT), config)
    assert isinstance(bare, TradingSignal)
    assert (bare.lots, bare.stop, bare.atr, bare.er, bare.supertrend) == (0, None, None, None, None)
    full = parse_signal(body(EXIT, stop=51000, lots=2, atr=0, er=0.5, supertrend=51500), config)
    assert isinstance(full, TradingSignal)
    assert (full.lots, full.stop, full.atr, full.er, full.supertrend) == (2, None, 0.0, 0.5, 51500.0)


def test_an_entry_without_supertrend_is_valid_as_a_real_alert_sends_it(config: Config) -> None:
    # The alert a real system sent (issue 11), with a timestamp added: no supertrend, which is only recorded.
    sent = {
        "type": "PYRAMID",
        "instrument": "SILVER_MINI",
        "position": "Long_2",
        "price": 252900,
        "stop": 245000,
        "atr": 2500,
        "er": 0.5,
        "lots": 1,
        "timestamp": "2025-12-01T10:30:00+05:30",
    }
    signal = parse_signal(orjson.dumps(sent), config)
    assert isinstance(signal, TradingSignal)
    assert (signal.layer, signal.price, signal.stop, signal.supertrend) == (2, 252900.0, 245000.0, None)


@pytest.mark.parametrize("template", [ENTRY, PYRAMID, EXIT, BAR], ids=["BASE_ENTRY", "PYRAMID", "EXIT", "MARKET_DATA"])
def test_a_missing_timestamp_says_which_placeholder_to_add(config: Config, template: dict[str, Any]) -> None:
    with pytest.raises(SignalError) as caught:
        parse_signal(without(template, "timestamp"), config)
    assert caught.value.field == "timestamp"
    assert 'add "timestamp": "{{timenow}}" to the alert message' in caught.value.message


def test_exit_reason_is_trimmed(config: Config) -> None:
    signal = parse_signal(body(EXIT, reason="  SuperTrend \n"), config)
    assert isinstance(signal, TradingSignal)
    assert signal.reason == "SuperTrend"


def test_er_bounds_and_lots_zero_are_accepted(config: Config) -> None:
    for er in (0, 1):
        signal = parse_signal(body(ENTRY, er=er, lots=0), config)
        assert isinstance(signal, TradingSignal)
        assert (signal.er, signal.lots) == (float(er), 0)


def test_market_data_parses_with_and_without_high_and_low(config: Config) -> None:
    bar = parse_signal(body(BAR, instrument="gold_mini"), config)
    assert bar == MarketData(
        instrument="GOLD_MINI",
        timestamp=datetime(2025, 12, 1, 5, 0, tzinfo=UTC),
        price=78500.0,
        atr=450.0,
        high=78600.0,
        low=78300.0,
    )
    close_only = parse_signal(without(without_dict(BAR, "high"), "low"), config)
    assert isinstance(close_only, MarketData)
    assert (close_only.high, close_only.low) == (None, None)
    assert (close_only.kind, close_only.layer, close_only.position) == ("MARKET_DATA", None, "")


def without_dict(base: dict[str, Any], name: str) -> dict[str, Any]:
    """`base` without one field."""
    return {k: v for k, v in base.items() if k != name}


def test_signal_id_is_kept_verbatim(config: Config) -> None:
    signal = parse_signal(body(ENTRY, signal_id="tv-BN-" + "7" * 122), config)
    assert signal.signal_id == "tv-BN-" + "7" * 122  # exactly 128 characters


# --- body size and the secret ------------------------------------------------------------------------


def test_body_at_the_limit_parses_and_one_byte_more_is_refused(config: Config) -> None:
    assert config.signal_max_body_bytes == 10240
    at_limit = padded(ENTRY, 10240)
    assert len(at_limit) == 10240
    assert isinstance(parse_signal(at_limit, config), TradingSignal)
    check_body_size(10240, 10240)
    with pytest.raises(SignalError, match="10241 bytes, more than the 10240-byte limit") as caught:
        check_body_size(10241, 10240)
    assert caught.value.field == "body"


def test_body_limit_comes_from_the_user_config(tmp_path: Path) -> None:
    user = tmp_path / "basso.toml"
    user.write_text("[signals]\nmax_body_bytes = 512\n")
    small = load_config(user)
    assert small.signal_max_body_bytes == 512
    with pytest.raises(SignalError, match="512-byte limit"):
        parse_signal(padded(ENTRY, 600), small)


def test_secret_is_returned_beside_the_signal_never_inside_it(config: Config) -> None:
    parsed = parse_webhook(body(ENTRY, secret="s3cret-ॐ"), config)
    assert parsed.secret == "s3cret-ॐ"
    assert parsed.signal == parse_signal(body(ENTRY), config)
    assert "s3cret" not in repr(parsed)
    assert "secret" not in to_payload(parsed.signal)
    assert parse_webhook(body(ENTRY), config).secret is None


def test_secret_can_be_read_before_the_signal_is_validated() -> None:
    decoded = decode_body(body({"secret": "abc", "type": "nonsense"}), 10240)
    assert read_secret(decoded) == "abc"


def test_secret_matches_only_the_configured_secret() -> None:
    assert secret_matches("s3cret-ॐ", "s3cret-ॐ")
    assert not secret_matches("s3cret", "s3cret-ॐ")
    assert not secret_matches(None, "s3cret")
    assert not secret_matches("", "")  # an unset secret authenticates nobody


# --- IST and idempotency keys ------------------------------------------------------------------------


def test_timestamp_without_offset_is_ist_wall_clock(config: Config) -> None:
    signal = parse_signal(body(ENTRY, timestamp="2025-12-01T10:30:00"), config)
    # 10:30 IST − 5:30 = 05:00 UTC.
    assert signal.timestamp == datetime(2025, 12, 1, 5, 0, 0, tzinfo=UTC)
    assert signal.timestamp.utcoffset() == timedelta(hours=5, minutes=30)


def key_at(config: Config, timestamp: str, **changes: Any) -> str:
    """The idempotency key of the base entry stamped `timestamp`."""
    return idempotency_key(parse_signal(body(ENTRY, timestamp=timestamp, **changes), config))


def test_same_instant_in_any_offset_notation_gets_the_same_key(config: Config) -> None:
    # All of these are 05:00:00 UTC on 1 Dec 2025.
    notations = [
        "2025-12-01T05:00:00Z",
        "2025-12-01T05:00:00+00:00",
        "2025-12-01T10:30:00+05:30",
        "2025-12-01T10:30:00+0530",
        "2025-12-01T10:30:00",
        "2025-12-01 10:30",
        "2025-12-01T00:00:00-05:00",
    ]
    assert len({key_at(config, text) for text in notations}) == 1


def test_fractions_of_the_same_second_get_the_same_key(config: Config) -> None:
    keys = {key_at(config, f"2025-12-01T10:30:00.{fraction}+05:30") for fraction in ("0", "1", "5", "999999")}
    assert keys == {key_at(config, "2025-12-01T10:30:00+05:30")}


def test_key_changes_with_the_second_the_layer_the_type_and_the_instrument(config: Config) -> None:
    base = key_at(config, "2025-12-01T10:30:00")
    assert key_at(config, "2025-12-01T10:30:01") != base
    assert idempotency_key(parse_signal(body(EXIT, timestamp="2025-12-01T10:30:00"), config)) != base
    assert key_at(config, "2025-12-01T10:30:00", instrument="GOLD_MINI", price=78500, stop=77800) != base
    pyramids = {idempotency_key(parse_signal(body(PYRAMID, position=f"Long_{n}"), config)) for n in range(2, 7)}
    assert len(pyramids) == 5


def test_key_is_the_sha256_of_instrument_type_position_and_utc_second(config: Config) -> None:
    # The stored keys outlive this code: pin the format.
    expected = hashlib.sha256(b"BANK_NIFTY\x1fBASE_ENTRY\x1fLong_1\x1f2025-12-01T05:00:00").hexdigest()
    assert key_at(config, "2025-12-01T10:30:00.750") == expected
    assert len(expected) == 64


def test_signal_id_is_the_key_whatever_the_timestamp(config: Config) -> None:
    assert key_at(config, "2025-12-01T10:30:00", signal_id="alert-42") == "alert-42"
    assert key_at(config, "2025-12-02T10:30:00", signal_id="alert-42") == "alert-42"


def test_market_data_key_depends_on_instrument_and_second(config: Config) -> None:
    gold = idempotency_key(parse_signal(body(BAR), config))
    assert gold == idempotency_key(parse_signal(body(BAR, timestamp="2025-12-01T05:00:00.4Z", price=78501), config))
    assert gold != idempotency_key(parse_signal(body(BAR, instrument="SILVER_MINI"), config))


# --- stale and future-dated signals ------------------------------------------------------------------

NOW = datetime(2025, 12, 1, 5, 0, 0, tzinfo=UTC)  # 10:30 IST


def stamped(config: Config, timestamp: str) -> TradingSignal:
    """The base entry stamped `timestamp`."""
    signal = parse_signal(body(ENTRY, timestamp=timestamp), config)
    assert isinstance(signal, TradingSignal)
    return signal


def test_signal_older_than_max_age_is_stale_and_younger_is_not(config: Config) -> None:
    signal = stamped(config, "2025-12-01T10:30:00")  # 05:00:00 UTC
    assert not is_stale(signal, NOW + timedelta(seconds=300), 300)  # exactly at the limit: still fresh
    assert is_stale(signal, NOW + timedelta(seconds=301), 300)
    assert not is_stale(signal, NOW + timedelta(days=3), 0)  # 0 disables the check


def test_signal_further_ahead_than_the_tolerance_is_future_dated(config: Config) -> None:
    assert not is_future_dated(stamped(config, "2025-12-01T10:31:00"), NOW, 60)  # 60 s ahead: tolerated
    assert is_future_dated(stamped(config, "2025-12-01T10:31:01"), NOW, 60)
    assert not is_stale(stamped(config, "2025-12-01T11:31:01"), NOW, 300)  # the future is not stale


def test_ist_time_labelled_utc_is_refused_with_the_time_zone_named(config: Config) -> None:
    # The earlier system's incident, the other way round: IST wall-clock 10:30 sent as "10:30Z" arrives at
    # 05:00 UTC and looks 5 h 30 min ahead.
    problem = timing_problem(stamped(config, "2025-12-01T10:30:00Z"), NOW, max_age_s=300, max_future_s=60)
    assert problem is not None
    assert "5 h 30 min ahead" in problem
    assert "IST offset" in problem
    assert "+05:30" in problem


def test_utc_time_sent_without_offset_is_stale_with_the_time_zone_named(config: Config) -> None:
    # "05:00:00" without offset is read as 05:00 IST = 23:30 UTC the day before: 5 h 30 min old at 05:00 UTC.
    problem = timing_problem(stamped(config, "2025-12-01T05:00:00"), NOW, max_age_s=300, max_future_s=60)
    assert problem is not None
    assert "5 h 30 min old" in problem
    assert "IST offset" in problem


def test_timely_signal_has_no_timing_problem_and_a_plain_stale_one_no_time_zone_hint(config: Config) -> None:
    assert timing_problem(stamped(config, "2025-12-01T10:29:58"), NOW, max_age_s=300, max_future_s=60) is None
    problem = timing_problem(stamped(config, "2025-12-01T10:20:00"), NOW, max_age_s=300, max_future_s=60)
    assert problem == ("timestamp 2025-12-01T10:20:00+05:30 is 10 min 0 s old, older than the 300 s limit")


def test_naive_now_is_a_programming_error(config: Config) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_stale(stamped(config, "2025-12-01T10:30:00"), datetime(2025, 12, 1, 5, 0), 300)


def test_offsets_other_than_ist_are_kept_as_the_same_instant(config: Config) -> None:
    signal = stamped(config, "2025-12-01T00:00:00-05:00")
    assert signal.timestamp == NOW
    assert signal.timestamp.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)
