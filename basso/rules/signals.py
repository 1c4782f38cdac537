"""Webhook signals (docs/rules.md §9): the wire format parsed into typed values, and nothing else.

Pure: no I/O and no clock. The `/webhook` handler calls `parse_webhook` (or `decode_body`, `read_secret` and
`signal_from_object` separately, to authenticate before it validates), stores the signal under
`idempotency_key`, and asks `timing_problem` with its own clock whether the signal is stale or future-dated.

The wire contract, where docs/rules.md §9 leaves a choice:

* The body is one JSON object (UTF-8, at most `[signals] max_body_bytes`). Arrays, scalars, an empty body and
  invalid JSON are refused with field ``body``.
* ``type`` and ``instrument`` are case-insensitive ASCII; ``position`` is exact: ``Long_1`` … ``Long_6``, or
  ``ALL`` for EXIT only. A BASE_ENTRY is always ``Long_1`` and a PYRAMID ``Long_2`` … ``Long_6``.
  ``TradingSignal.layer`` is the layer number, or None for ``ALL`` (every open layer of the instrument).
* Every number is a JSON number (not a string, not true/false), finite, and at most `LARGEST_NUMBER` in size:
  no futures price, ATR or indicator comes near it, and the bound keeps later arithmetic (× lots × point
  value) and the database's numeric columns far from overflow. orjson already refuses NaN, Infinity and
  literals such as 1e400 that overflow to infinity.
* ``lots`` is a JSON integer from 0 to `MAX_LOTS`. ``2.0`` is refused: a sender that sends computed floats
  will one day send 2.4, and a template error is better found on the first alert than on a live exit.
* Entries (BASE_ENTRY, PYRAMID) need price, stop, lots, atr, er and timestamp, with 0 < stop < price and
  atr > 0; ``supertrend`` is optional (real alert templates often leave it out; it is only recorded).
  An EXIT needs price, timestamp and a non-empty ``reason``; its stop is ignored (None in the value), and
  lots, atr, er and supertrend are optional (checked when present): an exit alert is never refused for
  lacking numbers it does not use.
* ``er`` is in [0, 1]; ``supertrend`` and ``roc`` are any numbers; they and ``signal_id`` are optional
  (null counts as absent). ``signal_id`` is a non-empty printable string of at most `MAX_SIGNAL_ID_CHARS`.
* ``timestamp`` is an ISO-8601 date and time (``2025-12-01T10:30:00``, optional seconds, fraction and offset;
  ``Z`` accepted). Without an offset it is IST wall-clock time.
* ``secret`` (a string) is returned beside the signal, never inside it, so it is never stored or logged.
* Unknown fields are allowed when their value is a string, number, true/false or null; a nested object or
  array in an unknown field is refused, naming the field. No string anywhere may contain a NUL character
  (PostgreSQL's jsonb cannot hold one).

MARKET_DATA (a bar close): instrument, timestamp, price > 0 and atr > 0; optional high and low with
low ≤ price ≤ high; optional signal_id.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import orjson

from basso.config import Config
from basso.rules.values import value_class
from basso.timeutil import IST_OFFSET, as_exchange_time, require_aware, utc_whole_seconds

__all__ = [
    "LARGEST_NUMBER",
    "MARKET_DATA",
    "MAX_LAYER",
    "MAX_LOTS",
    "MAX_SIGNAL_ID_CHARS",
    "MarketData",
    "ParsedWebhook",
    "Signal",
    "SignalError",
    "SignalType",
    "TradingSignal",
    "check_body_size",
    "decode_body",
    "idempotency_key",
    "is_future_dated",
    "is_stale",
    "parse_signal",
    "parse_webhook",
    "read_secret",
    "secret_matches",
    "signal_from_object",
    "timing_problem",
    "to_payload",
]

MAX_LAYER: Final = 6  # docs/rules.md §9: positions Long_1 … Long_6 (a base and up to five pyramids)
MAX_LOTS: Final = 1_000_000  # a suggestion of more lots is a template error; also fits any integer column
LARGEST_NUMBER: Final = 1e9  # see the module docstring
MAX_SIGNAL_ID_CHARS: Final = 128
MARKET_DATA: Final = "MARKET_DATA"
ALL_LAYERS: Final = "ALL"

_SHOWN_CHARS = 40  # how much of a bad value an error message repeats
_FIELD_CHARS = 100  # how much of an unknown field's name an error carries


class SignalType(StrEnum):
    """What a trading signal asks for."""

    BASE_ENTRY = "BASE_ENTRY"
    PYRAMID = "PYRAMID"
    EXIT = "EXIT"


class SignalError(ValueError):
    """A webhook body that is not a valid signal; `field` names the culprit (``body`` for the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field[:_FIELD_CHARS]
        self.message = message


@value_class
class TradingSignal:
    """A validated BASE_ENTRY, PYRAMID or EXIT.

    For entries stop, atr, er and supertrend are always numbers; for an EXIT stop is None (ignored) and the
    others are None when the sender left them out. `lots` is the strategy's suggestion: recorded, not obeyed.
    """

    type: SignalType
    instrument: str  # canonical upper-case name of a configured instrument
    layer: int | None  # 1 = base (Long_1), 2 … 6 = pyramids; None = ALL layers (EXIT only)
    price: float
    stop: float | None
    lots: int
    atr: float | None
    er: float | None
    supertrend: float | None
    timestamp: datetime  # aware
    roc: float | None = None
    reason: str | None = None
    signal_id: str | None = None

    @property
    def kind(self) -> str:
        """The wire `type` text, e.g. ``PYRAMID``."""
        return self.type.value

    @property
    def position(self) -> str:
        """The wire `position` text: ``Long_<layer>`` or ``ALL``."""
        return ALL_LAYERS if self.layer is None else f"Long_{self.layer}"

    @property
    def is_entry(self) -> bool:
        """True for BASE_ENTRY and PYRAMID: the signals that open a layer."""
        return self.type is not SignalType.EXIT


@value_class
class MarketData:
    """A validated bar close for one instrument: it marks positions and trails their stops."""

    instrument: str
    timestamp: datetime  # aware
    price: float  # the bar's close
    atr: float
    high: float | None = None
    low: float | None = None
    signal_id: str | None = None

    @property
    def kind(self) -> str:
        """Always ``MARKET_DATA``."""
        return MARKET_DATA

    @property
    def layer(self) -> None:
        """A bar belongs to no layer."""
        return None

    @property
    def position(self) -> str:
        """A bar names no position: the empty string."""
        return ""


Signal = TradingSignal | MarketData


@value_class
class ParsedWebhook:
    """A parsed body: the signal, and the shared secret it carried (kept out of the signal and its repr)."""

    signal: Signal
    secret: str | None = field(default=None, repr=False)


# --- the whole body ----------------------------------------------------------------------------------


def check_body_size(size: int, max_bytes: int) -> None:
    """Refuse a body of `size` bytes above `max_bytes` (``[signals] max_body_bytes``) before reading it."""
    if size > max_bytes:
        raise SignalError("body", f"body is {size} bytes, more than the {max_bytes}-byte limit")


def decode_body(body: bytes, max_bytes: int) -> dict[str, Any]:
    """The JSON object in `body`; SignalError (field ``body``) for anything else."""
    check_body_size(len(body), max_bytes)
    if not body.strip():
        raise SignalError("body", "body is empty: expected a JSON object")
    try:
        bytes(body).decode("utf-8")  # orjson would say "surrogates not allowed"; say what is wrong instead
    except UnicodeDecodeError as exc:
        raise SignalError("body", f"body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # orjson's message says what is wrong (NaN, Infinity, a number overflowing to infinity, a stray comma, …).
        raise SignalError("body", f"body is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise SignalError("body", f"body must be a JSON object, got {_json_kind(decoded)}")
    return decoded


def read_secret(body: Mapping[str, Any]) -> str | None:
    """The ``secret`` field of a decoded body, or None if it is absent or null."""
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise SignalError("secret", f"secret must be a string, got {_json_kind(secret)}")
    return secret


def secret_matches(given: str | None, expected: str) -> bool:
    """Compare a presented secret with the configured one in constant time; an empty `expected` never matches."""
    if given is None or not expected:
        return False
    # compare_digest refuses non-ASCII str; bytes work for any secret.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def parse_webhook(body: bytes, config: Config) -> ParsedWebhook:
    """Validate a webhook body into its signal and the secret it carried."""
    decoded = decode_body(body, config.signal_max_body_bytes)
    secret = read_secret(decoded)
    return ParsedWebhook(signal=signal_from_object(decoded, config), secret=secret)


def parse_signal(body: bytes, config: Config) -> Signal:
    """Validate a webhook body into a `TradingSignal` or `MarketData`; SignalError names the bad field."""
    return parse_webhook(body, config).signal


def signal_from_object(body: Mapping[str, Any], config: Config) -> Signal:
    """Validate an already decoded JSON object (a body, or a payload stored by `to_payload`)."""
    kind = _signal_kind(body)
    instrument = _instrument(body, config)
    _check_fields(body, _KNOWN_MARKET_DATA if kind == MARKET_DATA else _KNOWN_TRADING)
    if kind == MARKET_DATA:
        return _market_data(body, instrument)
    return _trading_signal(body, SignalType(kind), instrument)


# --- trading signals and bars ------------------------------------------------------------------------

_KNOWN_TRADING = frozenset(
    {
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
    }
)
_KNOWN_MARKET_DATA = frozenset(
    {"type", "instrument", "timestamp", "price", "atr", "high", "low", "signal_id", "secret"}
)
_KINDS = (*(t.value for t in SignalType), MARKET_DATA)


def _trading_signal(body: Mapping[str, Any], kind: SignalType, instrument: str) -> TradingSignal:
    layer = _layer(body, kind)
    price = _positive(body, "price", kind)
    entry = kind is not SignalType.EXIT
    stop: float | None = None
    if entry:
        stop = _entry_stop(body, kind, price)
        atr: float | None = _positive(body, "atr", kind)
    else:
        _optional_number(body, "stop")  # ignored for an EXIT, but a string or an object there is still refused
        atr = _optional_number(body, "atr")
        if atr is not None and atr < 0:
            raise SignalError("atr", f"atr must not be negative, got {_shown(body['atr'])}")
    er = _required_number(body, "er", kind) if entry else _optional_number(body, "er")
    if er is not None and not 0 <= er <= 1:
        raise SignalError("er", f"er (efficiency ratio) must be between 0 and 1, got {_shown(body['er'])}")
    reason = _optional_text(body, "reason")
    if not entry and reason is None:
        raise SignalError("reason", "reason is required for EXIT (a non-empty string)")
    return TradingSignal(
        type=kind,
        instrument=instrument,
        layer=layer,
        price=price,
        stop=stop,
        lots=_lots(body, kind, required=entry),
        atr=atr,
        er=er,
        supertrend=_optional_number(body, "supertrend"),
        timestamp=_timestamp(body, kind),
        roc=_optional_number(body, "roc"),
        reason=reason,
        signal_id=_signal_id(body),
    )


def _entry_stop(body: Mapping[str, Any], kind: SignalType, price: float) -> float:
    stop = _required_number(body, "stop", kind)
    if stop <= 0:
        raise SignalError("stop", f"stop must be greater than 0, got {_shown(body['stop'])}")
    if stop >= price:
        raise SignalError(
            "stop", f"stop must be below price for a long entry, got stop {_number(stop)} ≥ price {_number(price)}"
        )
    return stop


def _market_data(body: Mapping[str, Any], instrument: str) -> MarketData:
    price = _positive(body, "price", MARKET_DATA)
    atr = _positive(body, "atr", MARKET_DATA)
    high = _optional_number(body, "high")
    low = _optional_number(body, "low")
    if high is not None and high < price:
        raise SignalError("high", f"high must be at least the close (price {_number(price)}), got {_number(high)}")
    if low is not None and low > price:
        raise SignalError("low", f"low must be at most the close (price {_number(price)}), got {_number(low)}")
    if low is not None and low <= 0:
        raise SignalError("low", f"low must be greater than 0, got {_number(low)}")
    return MarketData(
        instrument=instrument,
        timestamp=_timestamp(body, MARKET_DATA),
        price=price,
        atr=atr,
        high=high,
        low=low,
        signal_id=_signal_id(body),
    )


# --- fields ------------------------------------------------------------------------------------------


def _signal_kind(body: Mapping[str, Any]) -> str:
    value = body.get("type")
    if value is None:
        raise SignalError("type", f"type is required (one of {', '.join(_KINDS)})")
    if not isinstance(value, str) or not value.isascii() or value.upper() not in _KINDS:
        raise SignalError("type", f"type must be one of {', '.join(_KINDS)}, got {_shown(value)}")
    return value.upper()


def _instrument(body: Mapping[str, Any], config: Config) -> str:
    value = body.get("instrument")
    known = ", ".join(sorted(config.instruments))
    if value is None:
        raise SignalError("instrument", f"instrument is required (configured: {known})")
    # isascii: str.upper() maps some non-ASCII letters onto ASCII ones ("ı" → "I"); a name is plain ASCII.
    if not isinstance(value, str) or not value.isascii() or value.upper() not in config.instruments:
        raise SignalError("instrument", f"instrument must be a configured instrument ({known}), got {_shown(value)}")
    return value.upper()


_LAYER_TEXT = re.compile(r"Long_([1-9])", re.ASCII)


def _layer(body: Mapping[str, Any], kind: SignalType) -> int | None:
    value = body.get("position")
    allowed = {
        SignalType.BASE_ENTRY: "Long_1",
        SignalType.PYRAMID: f"Long_2 … Long_{MAX_LAYER}",
        SignalType.EXIT: f"Long_1 … Long_{MAX_LAYER} or ALL",
    }[kind]
    if value is None:
        raise SignalError("position", f"position is required for {kind} ({allowed})")
    if not isinstance(value, str):
        raise SignalError("position", f"position must be a string ({allowed}), got {_json_kind(value)}")
    if value == ALL_LAYERS and kind is SignalType.EXIT:
        return None
    match = _LAYER_TEXT.fullmatch(value)
    layer = int(match.group(1)) if match else 0
    if not 1 <= layer <= MAX_LAYER:
        raise SignalError("position", f"position must be {allowed}, got {_shown(value)}")
    if (kind is SignalType.BASE_ENTRY and layer != 1) or (kind is SignalType.PYRAMID and layer == 1):
        raise SignalError("position", f"position for {kind} must be {allowed}, got {_shown(value)}")
    return layer


def _optional_number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str) and _looks_numeric(value):
            hint = f" (write {value.strip()}, not {_quoted(value)})"
        raise SignalError(name, f"{name} must be a JSON number{hint}, got {_shown(value)}")
    # Checked before float(): an int beyond float's range would raise OverflowError there.
    if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > LARGEST_NUMBER:
        raise SignalError(
            name, f"{name} must be a finite number no larger than {LARGEST_NUMBER:,.0f} in size, got {_shown(value)}"
        )
    return float(value)


def _required_number(body: Mapping[str, Any], name: str, kind: str) -> float:
    if name not in body:
        raise SignalError(name, f"{name} is required for {kind}")
    number = _optional_number(body, name)
    if number is None:
        raise SignalError(name, f"{name} must be a number, got null")
    return number


def _positive(body: Mapping[str, Any], name: str, kind: str) -> float:
    number = _required_number(body, name, kind)
    if number <= 0:
        raise SignalError(name, f"{name} must be greater than 0, got {_shown(body[name])}")
    return number


def _lots(body: Mapping[str, Any], kind: str, *, required: bool) -> int:
    value = body.get("lots")
    if value is None:
        if required:
            raise SignalError(
                "lots",
                f"lots is required for {kind}" if "lots" not in body else "lots must be a whole number, got null",
            )
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise SignalError("lots", f"lots must be a whole number written without a decimal point, got {_shown(value)}")
    if not 0 <= value <= MAX_LOTS:
        raise SignalError("lots", f"lots must be between 0 and {MAX_LOTS}, got {value}")
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SignalError(name, f"{name} must be a string, got {_json_kind(value)}")
    return value.strip() or None


def _signal_id(body: Mapping[str, Any]) -> str | None:
    value = body.get("signal_id")
    if value is None:
        return None
    if not isinstance(value, str):
        raise SignalError("signal_id", f"signal_id must be a string, got {_json_kind(value)}")
    if not value or not value.isprintable() or value.strip() != value or len(value) > MAX_SIGNAL_ID_CHARS:
        raise SignalError(
            "signal_id",
            f"signal_id must be 1 to {MAX_SIGNAL_ID_CHARS} printable characters without "
            f"leading or trailing spaces, got {_shown(value)}",
        )
    return value


# A date and a time; the seconds, a fraction and an offset are optional. fromisoformat() does the real parse;
# this keeps out the forms it also accepts that no alert sends (a bare date, week dates, "20251201T1030").
_TIMESTAMP_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)


def _timestamp(body: Mapping[str, Any], kind: str) -> datetime:
    value = body.get("timestamp")
    if value is None:
        # Without a timestamp a resend could not be told from a new signal (docs/rules.md §9): say how to add one.
        raise SignalError(
            "timestamp", f'timestamp is required for {kind}: add "timestamp": "{{{{timenow}}}}" to the alert message'
        )
    example = "an ISO-8601 date and time such as 2025-12-01T10:30:00+05:30"
    if not isinstance(value, str):
        raise SignalError("timestamp", f"timestamp must be {example}, got {_json_kind(value)}")
    if not _TIMESTAMP_TEXT.fullmatch(value):
        raise SignalError("timestamp", f"timestamp must be {example}, got {_shown(value)}")
    try:
        # fromisoformat keeps microseconds and drops further fraction digits.
        moment = as_exchange_time(datetime.fromisoformat(value))
        utc_whole_seconds(moment)  # near year 1 or 9999 the UTC instant does not exist
    except (ValueError, OverflowError) as exc:
        raise SignalError("timestamp", f"timestamp {_quoted(value)} is not a real date and time: {exc}") from None
    return moment


def _check_fields(body: Mapping[str, Any], known: frozenset[str]) -> None:
    """Refuse NUL characters anywhere, and unknown fields whose value is not a plain scalar."""
    for name, value in body.items():
        if "\x00" in name:
            raise SignalError(name, f"field name {_quoted(name)} contains a NUL character")
        if isinstance(value, str) and "\x00" in value:
            raise SignalError(name, f"{name} contains a NUL character")
        if name not in known and isinstance(value, dict | list):
            raise SignalError(
                name,
                f"unknown field {_quoted(name)} must be a string, number, true/false or null, "
                f"got {_json_kind(value)}; nested objects and arrays are refused",
            )


def _number(value: float) -> str:
    return format(value, ".15g")  # 51999.95 stays 51999.95, 52000.0 reads 52000


def _quoted(text: str) -> str:
    """`text` as a JSON string, cut short."""
    quoted = orjson.dumps(text[:_SHOWN_CHARS]).decode()
    return quoted if len(text) <= _SHOWN_CHARS else quoted[:-1] + '…"'


def _looks_numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _shown(value)


def _shown(value: Any) -> str:
    """`value` as JSON would write it, cut short: error messages echo what was sent, never pages of it."""
    if isinstance(value, dict | list):
        return _json_kind(value)
    if isinstance(value, str):
        return "the string " + _quoted(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


# --- keys, payloads and timing -----------------------------------------------------------------------


def idempotency_key(signal: Signal) -> str:
    """`signal_id` if the sender gave one, else the SHA-256 hex of instrument, type, position and UTC second.

    The time is truncated to the whole UTC second, so a resend that differs only in the fraction of a
    second, or writes the same instant with another offset (``Z``, ``+05:30``, no offset), gets the same key.
    """
    if signal.signal_id is not None:
        return signal.signal_id
    second = utc_whole_seconds(signal.timestamp).replace(tzinfo=None).isoformat()
    # A separator that no field can contain, so ("A", "BC") and ("AB", "C") never hash alike.
    text = "\x1f".join((signal.instrument, signal.kind, signal.position, second))
    return hashlib.sha256(text.encode()).hexdigest()


def to_payload(signal: Signal) -> dict[str, Any]:
    """The signal as a canonical JSON object (no secret); `signal_from_object` reads it back to an equal value."""
    if isinstance(signal, MarketData):
        fields: dict[str, Any] = {
            "type": MARKET_DATA,
            "instrument": signal.instrument,
            "price": signal.price,
            "atr": signal.atr,
            "high": signal.high,
            "low": signal.low,
        }
    else:
        fields = {
            "type": signal.kind,
            "instrument": signal.instrument,
            "position": signal.position,
            "price": signal.price,
            "stop": signal.stop,
            "lots": signal.lots,
            "atr": signal.atr,
            "er": signal.er,
            "supertrend": signal.supertrend,
            "roc": signal.roc,
            "reason": signal.reason,
        }
    fields["timestamp"] = signal.timestamp.isoformat()
    fields["signal_id"] = signal.signal_id
    return {name: value for name, value in fields.items() if value is not None}


def is_stale(signal: Signal, now: datetime, max_age_s: float) -> bool:
    """True if the signal is more than `max_age_s` seconds older than `now`; a `max_age_s` of 0 disables."""
    age = (require_aware(now, "now") - signal.timestamp).total_seconds()
    return max_age_s > 0 and age > max_age_s


def is_future_dated(signal: Signal, now: datetime, max_future_s: float) -> bool:
    """True if the signal is stamped more than `max_future_s` seconds after `now` (0 = no tolerance).

    A clock skew is a second or two; a signal far ahead of our clock is almost always a mislabelled time zone,
    and acting on it would also make every later resend look older than it is.
    """
    ahead = (signal.timestamp - require_aware(now, "now")).total_seconds()
    return ahead > max_future_s


def timing_problem(signal: Signal, now: datetime, *, max_age_s: float, max_future_s: float) -> str | None:
    """Why the signal must not be acted on at `now` (stale or future-dated), or None if its timing is fine."""
    ahead = (signal.timestamp - require_aware(now, "now")).total_seconds()
    if is_future_dated(signal, now, max_future_s):
        hint = (
            " — that is the IST offset: is IST wall-clock time being sent with a UTC offset (Z or +00:00)?"
            " Send it without an offset, or with +05:30"
            if _near_ist_offset(ahead)
            else ""
        )
        return (
            f"timestamp {signal.timestamp.isoformat()} is {_duration(ahead)} ahead of this server's clock "
            f"(tolerance {max_future_s:g} s){hint}"
        )
    if is_stale(signal, now, max_age_s):
        hint = (
            " — that is the IST offset: is UTC time being sent without an offset (read as IST)?"
            if _near_ist_offset(-ahead)
            else ""
        )
        return (
            f"timestamp {signal.timestamp.isoformat()} is {_duration(-ahead)} old, older than the "
            f"{max_age_s:g} s limit{hint}"
        )
    return None


def _near_ist_offset(seconds: float) -> bool:
    # Within a quarter of an hour: alert delivery and queueing add minutes, not hours.
    return abs(seconds - IST_OFFSET.total_seconds()) <= 900


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 120:
        return f"{seconds:.1f} s"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"
