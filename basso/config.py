"""Configuration: the shipped defaults merged with a user file, validated into immutable values.

Every instrument number and every rule's number is read from here; no other module hard-codes one.
A malformed or inconsistent file is refused at load with a `ConfigError` naming the key and the problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from importlib import resources
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal, TypeVar

__all__ = [
    "BacktestSettings",
    "CalendarConfig",
    "Config",
    "ConfigError",
    "DrawdownRules",
    "ExpiryRule",
    "Instrument",
    "LeadershipSettings",
    "PaperBroker",
    "PortfolioRules",
    "PyramidRules",
    "ServerSettings",
    "Zones",
    "config_with",
    "load_config",
    "load_raw_config",
]

EquityMode = Literal["closed", "open", "blended", "high_water"]
StopSource = Literal["signal", "atr"]
TradedAs = Literal["synthetic", "future"]
ExpiryKind = Literal["last_weekday", "day_of_month", "last_day"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ConfigError(ValueError):
    """A configuration file is malformed or inconsistent; the message names the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Zones:
    """Upper bounds (percent of equity) of the green, yellow and orange zones; above orange is red."""

    green: float
    yellow: float
    orange: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PortfolioRules:
    """Portfolio-wide limits (docs/rules.md §2–§4, §6)."""

    equity_mode: EquityMode
    blended_unrealised_weight: float
    margin_budget_pct: float
    max_risk_pct: float
    max_vol_pct: float
    emergency_risk_pct: float
    emergency_target_risk_pct: float
    er_scaling: bool
    stop_source: StopSource
    margin_warning_pct: float
    zone_size_factor: float
    expiry_alert_days: int
    risk_zones: Zones
    vol_zones: Zones


@dataclass(frozen=True, slots=True, kw_only=True)
class PyramidRules:
    """Pyramid gates and sizing (docs/rules.md §5)."""

    max_risk_pct: float
    max_vol_pct: float
    atr_spacing: float
    discipline_ratio: float
    profit_budget_share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawdownRules:
    """Drawdown bands (docs/rules.md §2); percentages of peak equity."""

    reduce_from_pct: float
    reduce_factor: float
    halve_from_pct: float
    halve_factor: float
    halt_from_pct: float
    peak_days: int  # the peak is the highest equity of the last this many days; 0 = all time


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperBroker:
    """Paper broker fills (docs/rules.md §8)."""

    slippage_ticks: int
    commission_pct: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerSettings:
    """Where orders go (docs/rules.md §8): the paper broker, or an OpenAlgo gateway and how orders are worked there.

    The OpenAlgo API key is not configuration: it comes from BASSO_OPENALGO_API_KEY, and is never logged or
    stored."""

    kind: Literal["paper", "openalgo"]
    url: str  # OpenAlgo's base URL ("" with the paper broker)
    product: Literal["NRML", "MIS"]
    limit_buffer_ticks: int  # the first LIMIT is LTP ± this many ticks
    limit_step_ticks: int  # each modification moves the limit this many ticks towards the market
    modifications: int  # limit modifications before the rest is taken at MARKET
    step_interval_s: float  # wait before each status check of a working order
    timeout_s: float  # every HTTP call
    resolve_checks: int  # order book reads before a lost placement is `unknown`
    unknown_checks: int  # resolution attempts of an `unknown` order before it raises an alert and blocks entries
    orders_per_second: float  # OpenAlgo's own limit is 10 per second
    reconcile_every_s: float  # the position book against our layers


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestSettings:
    """Backtest mode (docs/rules.md §11): how bars are read into the rules."""

    atr_period: int  # ATR(n) from bars, Wilder's smoothing


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadershipSettings:
    """Leadership timing (docs/architecture.md "Leadership timing")."""

    lease_ttl_s: float  # also how long an actor may go without a heartbeat before /health/live says 503
    renew_every_s: float  # the leader renews this often (less up to `renew_jitter_s`)
    renew_deadline_s: float  # without a renewal sent this long ago and acknowledged, the leader pauses
    renew_jitter_s: float
    standby_every_s: float  # a standby tries to take the lease this often (less up to `renew_jitter_s`)
    key: str  # the Redis key of the lease


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSettings:
    """How `basso run` serves: bind address, storage and broker. Environment variables override these."""

    host: str
    port: int
    data_dir: Path
    database_url: str
    redis_url: str
    initial_capital: float
    rate_limit_per_minute: int
    pending_sweep_s: float
    bar_gap_alert_s: float  # no bar close for this long in market hours, with layers open: an alert (§10)
    # Peers whose X-Forwarded-For is believed (the reverse proxies): from anyone else the header is ignored.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = (ip_network("127.0.0.1/32"), ip_network("::1/128"))


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardSettings:
    """The dashboard at `/` (basso/http/dashboard.py)."""

    poll_s: float  # an open page's event stream looks at the facts this often (a commit here wakes it at once)
    bar_stale_s: float  # an instrument with open layers whose last bar close is older shows yellow


NOTIFICATION_EVENTS = (
    "entry_filled",
    "exit_filled",
    "stop_hit",
    "peel_off",
    "roll_done",
    "roll_failed",
    "leadership",
    "alert",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationSettings:
    """Notifications (docs/rules.md §10) through apprise: where they go, which events, and how failures are retried."""

    urls: tuple[str, ...]  # apprise URLs; empty: nothing is sent
    events: Mapping[str, Literal["on", "silent", "off"]]  # per event in NOTIFICATION_EVENTS
    timeout_s: float  # one send's deadline
    retry_first_s: float  # the first retry waits this long, each next one twice as long ...
    retry_max_s: float  # ... up to this
    max_attempts: int  # then the notification is given up (logged, state 'failed')
    poll_s: float  # the leader looks for notifications to send this often (a commit here wakes it at once)


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarConfig:
    """An exchange's holiday calendar: a maintained package's list corrected by explicit dates."""

    name: str
    financial_calendar: str
    extra_holidays: tuple[date, ...]
    extra_trading_days: tuple[date, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiryRule:
    """How an instrument's monthly expiry date is found before holiday adjustment."""

    rule: ExpiryKind
    weekday: int | None = None  # 0 = Monday, for last_weekday
    weekday_history: tuple[tuple[date, int], ...] = ()  # (until, weekday): an older weekday up to a date
    day: int | None = None  # for day_of_month
    months: tuple[int, ...] = tuple(range(1, 13))
    dates: tuple[date, ...] = ()  # explicit dates override the rule in their month

    def weekday_on(self, month_start: date) -> int:
        """The expiry weekday in force for the month starting on `month_start`."""
        for until, weekday in sorted(self.weekday_history):
            if month_start <= until:
                return weekday
        assert self.weekday is not None
        return self.weekday


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """One tradable instrument, with every number the rules need."""

    name: str
    exchange: str
    calendar: str
    symbol_root: str
    traded_as: TradedAs
    strike_step: int | None
    lot_size: int
    quote_unit: float
    tick: float
    margin_per_lot: float
    initial_risk_pct: float
    ongoing_risk_pct: float
    initial_vol_pct: float
    ongoing_vol_pct: float
    initial_stop_atr: float
    trailing_stop_atr: float
    max_pyramids: int
    price_collar_pct: float  # an entry or pyramid further than this from the latest mark is rejected
    roll_days: int
    market_open: time
    market_close: time
    market_close_us_standard_time: time | None
    lot_size_history: tuple[tuple[date, int], ...]
    expiry: ExpiryRule

    @property
    def point_value(self) -> float:
        """Rupees per 1.0 price point per lot, at the current lot size."""
        return self.lot_size / self.quote_unit

    def lot_size_on(self, day: date) -> int:
        """The lot size in force on `day` (the newest history entry on or before it)."""
        size = self.lot_size if not self.lot_size_history else self.lot_size_history[0][1]
        for effective, lots in self.lot_size_history:
            if effective <= day:
                size = lots
        return size

    def point_value_on(self, day: date) -> float:
        """Rupees per point per lot on `day`; Bank Nifty's changes with its lot size."""
        return self.lot_size_on(day) / self.quote_unit


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole validated configuration."""

    portfolio: PortfolioRules
    pyramid: PyramidRules
    drawdown: DrawdownRules
    paper: PaperBroker
    broker: BrokerSettings
    signal_max_age_s: float
    signal_max_future_s: float
    signal_max_body_bytes: int
    server: ServerSettings
    backtest: BacktestSettings
    leadership: LeadershipSettings
    dashboard: DashboardSettings
    notifications: NotificationSettings
    calendars: Mapping[str, CalendarConfig]
    instruments: Mapping[str, Instrument]

    def instrument(self, name: str) -> Instrument:
        """The instrument called `name` (case-insensitive); KeyError naming the known ones otherwise."""
        try:
            return self.instruments[name.upper()]
        except KeyError:
            known = ", ".join(sorted(self.instruments))
            raise KeyError(f"unknown instrument {name!r} (known: {known})") from None


# --- loading -----------------------------------------------------------------------------------------


def load_config(user_file: Path | None = None) -> Config:
    """The shipped defaults, with `user_file` merged over them, validated."""
    return _parse(load_raw_config(user_file))


def load_raw_config(user_file: Path | None = None) -> dict[str, Any]:
    """The shipped defaults with `user_file` merged over them, as TOML tables, not yet validated."""
    raw = tomllib.loads(resources.files("basso").joinpath("defaults.toml").read_text("utf-8"))
    if user_file is not None:
        try:
            user = tomllib.loads(Path(user_file).read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"{user_file}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{user_file}: not valid TOML: {exc}") from None
        raw = _merge(raw, user)
    return raw


def config_with(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    """`raw` (from `load_raw_config`) with the tables of `overrides` merged over it key by key, validated: how
    `basso sweep` builds each configuration it tries, through the same checks as a user's file."""
    return _parse(_merge(dict(raw), overrides))


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_KNOWN_TOP = {
    "portfolio",
    "pyramid",
    "drawdown",
    "paper",
    "broker",
    "signals",
    "server",
    "calendars",
    "instruments",
    "backtest",
    "leadership",
    "dashboard",
    "notifications",
}


def _parse(raw: Mapping[str, Any]) -> Config:
    _refuse_unknown(raw, _KNOWN_TOP, "")
    calendars = {name: _calendar(name, _table(raw, "calendars")[name]) for name in _table(raw, "calendars")}
    signals = _Section(raw, "signals")
    collar = signals.number("price_collar_pct", positive=True)
    instruments = {
        name.upper(): _instrument(name, body, calendars, collar) for name, body in _table(raw, "instruments").items()
    }
    if not instruments:
        raise ConfigError("instruments: at least one instrument is required")
    config = Config(
        portfolio=_portfolio(_Section(raw, "portfolio")),
        pyramid=_pyramid(_Section(raw, "pyramid")),
        drawdown=_drawdown(_Section(raw, "drawdown")),
        paper=_paper(_Section(raw, "paper")),
        broker=_broker(_Section(raw, "broker")),
        signal_max_age_s=signals.number("max_age_s", minimum=0),
        signal_max_future_s=signals.number("max_future_s", minimum=0),
        signal_max_body_bytes=signals.integer("max_body_bytes", minimum=1),
        server=_server(_Section(raw, "server")),
        backtest=_backtest(_Section(raw, "backtest")),
        leadership=_leadership(_Section(raw, "leadership")),
        dashboard=_dashboard(_Section(raw, "dashboard")),
        notifications=_notifications(_Section(raw, "notifications")),
        calendars=calendars,
        instruments=instruments,
    )
    signals.done()
    return config


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a table")
    return value


def _refuse_unknown(raw: Mapping[str, Any], known: set[str], path: str) -> None:
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}{key}: unknown key (known: {', '.join(sorted(known))})")


T = TypeVar("T")


class _Section:
    """Typed, validating reads from one table; every error names the full key."""

    def __init__(self, parent: Mapping[str, Any], key: str, path: str = "") -> None:
        self.path = f"{path}{key}"
        self.raw = _table(parent, key) if not path else parent[key]
        if not isinstance(self.raw, Mapping):
            raise ConfigError(f"{self.path}: must be a table")
        self.used: set[str] = set()

    def _get(self, key: str, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.raw:
            if default is ...:
                raise ConfigError(f"{self.path}.{key}: required")
            return default
        return self.raw[key]

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}.{key}: {problem}")

    def number(
        self,
        key: str,
        *,
        minimum: float | None = None,
        positive: bool = False,
        maximum: float | None = None,
        default: Any = ...,
    ) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        if positive and not value > 0:
            raise self.fail(key, f"must be greater than 0, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(key, f"must be at most {maximum}, got {value!r}")
        return float(value)

    def integer(self, key: str, *, minimum: int = 0, default: Any = ...) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value!r}")
        return value

    def text(self, key: str, *, choices: tuple[str, ...] | None = None, default: Any = ...) -> str:
        value = self._get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def clock(self, key: str, default: Any = ...) -> time | None:
        value = self._get(key, default)
        if value is None:
            return None
        try:
            return time.fromisoformat(value) if isinstance(value, str) else _bad(value)
        except ValueError:
            raise self.fail(key, f"must be a time HH:MM, got {value!r}") from None

    def day(self, key: str, value: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value) if isinstance(value, str) else _bad(value)
        except ValueError:
            raise self.fail(key, f"must be an ISO date YYYY-MM-DD, got {value!r}") from None

    def days(self, key: str, default: Any = ()) -> tuple[date, ...]:
        value = self._get(key, default)
        if not isinstance(value, list | tuple):
            raise self.fail(key, f"must be a list of ISO dates, got {value!r}")
        return tuple(sorted(self.day(key, item) for item in value))

    def records(self, key: str, default: Any = ()) -> list[Mapping[str, Any]]:
        value = self._get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(key, "must be a list of tables")
        return list(value)

    def sub(self, key: str) -> _Section:
        self.used.add(key)
        if key not in self.raw:
            raise ConfigError(f"{self.path}.{key}: required")
        return _Section(self.raw, key, f"{self.path}.")

    def done(self) -> None:
        """Refuse keys nobody read: a typo must not silently fall back to a default."""
        _refuse_unknown(self.raw, self.used, f"{self.path}.")


def _bad(value: Any) -> Any:
    raise ValueError(value)


def _zones(section: _Section) -> Zones:
    zones = Zones(
        green=section.number("green", positive=True),
        yellow=section.number("yellow", positive=True),
        orange=section.number("orange", positive=True),
    )
    if not zones.green < zones.yellow < zones.orange:
        raise ConfigError(f"{section.path}: zones must rise: green < yellow < orange")
    section.done()
    return zones


def _portfolio(s: _Section) -> PortfolioRules:
    rules = PortfolioRules(
        equity_mode=s.text("equity_mode", choices=("closed", "open", "blended", "high_water")),  # type: ignore[arg-type]
        blended_unrealised_weight=s.number("blended_unrealised_weight", minimum=0, maximum=1),
        margin_budget_pct=s.number("margin_budget_pct", positive=True, maximum=100),
        max_risk_pct=s.number("max_risk_pct", positive=True),
        max_vol_pct=s.number("max_vol_pct", positive=True),
        emergency_risk_pct=s.number("emergency_risk_pct", positive=True),
        emergency_target_risk_pct=s.number("emergency_target_risk_pct", positive=True),
        er_scaling=s.flag("er_scaling"),
        stop_source=s.text("stop_source", choices=("signal", "atr")),  # type: ignore[arg-type]
        margin_warning_pct=s.number("margin_warning_pct", positive=True, maximum=100),
        zone_size_factor=s.number("zone_size_factor", minimum=0, maximum=1),
        expiry_alert_days=s.integer("expiry_alert_days"),
        risk_zones=_zones(s.sub("risk_zones")),
        vol_zones=_zones(s.sub("vol_zones")),
    )
    if rules.emergency_target_risk_pct > rules.emergency_risk_pct:
        raise s.fail("emergency_target_risk_pct", "must not exceed emergency_risk_pct")
    s.done()
    return rules


def _pyramid(s: _Section) -> PyramidRules:
    rules = PyramidRules(
        max_risk_pct=s.number("max_risk_pct", positive=True),
        max_vol_pct=s.number("max_vol_pct", positive=True),
        atr_spacing=s.number("atr_spacing", minimum=0),
        discipline_ratio=s.number("discipline_ratio", positive=True, maximum=1),
        profit_budget_share=s.number("profit_budget_share", minimum=0, maximum=1),
    )
    s.done()
    return rules


def _drawdown(s: _Section) -> DrawdownRules:
    rules = DrawdownRules(
        reduce_from_pct=s.number("reduce_from_pct", minimum=0, maximum=100),
        reduce_factor=s.number("reduce_factor", minimum=0, maximum=1),
        halve_from_pct=s.number("halve_from_pct", minimum=0, maximum=100),
        halve_factor=s.number("halve_factor", minimum=0, maximum=1),
        halt_from_pct=s.number("halt_from_pct", minimum=0, maximum=100),
        peak_days=s.integer("peak_days"),
    )
    if not rules.reduce_from_pct <= rules.halve_from_pct <= rules.halt_from_pct:
        raise ConfigError(f"{s.path}: bands must rise: reduce_from_pct <= halve_from_pct <= halt_from_pct")
    s.done()
    return rules


def _paper(s: _Section) -> PaperBroker:
    paper = PaperBroker(
        slippage_ticks=s.integer("slippage_ticks"), commission_pct=s.number("commission_pct", minimum=0, maximum=5)
    )
    s.done()
    return paper


def _broker(s: _Section) -> BrokerSettings:
    kind = s.text("kind", choices=("paper", "openalgo"))
    url = s._get("url", "")
    if not isinstance(url, str):
        raise s.fail("url", f"must be a string, got {url!r}")
    if kind == "openalgo" and not url.startswith(("http://", "https://")):
        raise s.fail("url", f'must be OpenAlgo\'s http:// or https:// address with kind = "openalgo", got {url!r}')
    settings = BrokerSettings(
        kind=kind,  # type: ignore[arg-type]
        url=url.rstrip("/"),
        product=s.text("product", choices=("NRML", "MIS")),  # type: ignore[arg-type]
        limit_buffer_ticks=s.integer("limit_buffer_ticks"),
        limit_step_ticks=s.integer("limit_step_ticks", minimum=1),
        modifications=s.integer("modifications"),
        step_interval_s=s.number("step_interval_s", positive=True, maximum=60),
        timeout_s=s.number("timeout_s", positive=True, maximum=60),
        resolve_checks=s.integer("resolve_checks", minimum=1),
        unknown_checks=s.integer("unknown_checks", minimum=1),
        orders_per_second=s.number("orders_per_second", positive=True, maximum=1000),
        reconcile_every_s=s.number("reconcile_every_s", positive=True),
    )
    s.done()
    return settings


def _server(s: _Section) -> ServerSettings:
    port = s.integer("port", minimum=1)
    if port > 65535:
        raise s.fail("port", f"must be at most 65535, got {port}")
    settings = ServerSettings(
        host=s.text("host"),
        port=port,
        data_dir=Path(s.text("data_dir")),
        database_url=s._get("database_url", ""),
        redis_url=s._get("redis_url", ""),
        initial_capital=s.number("initial_capital", minimum=0),
        rate_limit_per_minute=s.integer("rate_limit_per_minute", minimum=1),
        pending_sweep_s=s.number("pending_sweep_s", positive=True, maximum=3600),
        bar_gap_alert_s=s.number("bar_gap_alert_s", positive=True, maximum=86400),
        trusted_proxies=_networks(s, "trusted_proxies"),
    )
    for key in ("database_url", "redis_url"):
        if not isinstance(getattr(settings, key), str):
            raise s.fail(key, "must be a string (empty for the embedded server)")
    s.done()
    return settings


def _networks(s: _Section, key: str) -> tuple[IPv4Network | IPv6Network, ...]:
    value = s._get(key)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise s.fail(key, f'must be a list of addresses or networks ("10.0.0.5", "10.0.0.0/24"), got {value!r}')
    try:
        return tuple(ip_network(v.strip(), strict=False) for v in value)
    except ValueError as exc:
        raise s.fail(key, f"not an address or network: {exc}") from None


def _backtest(s: _Section) -> BacktestSettings:
    settings = BacktestSettings(atr_period=s.integer("atr_period", minimum=1))
    s.done()
    return settings


def _dashboard(s: _Section) -> DashboardSettings:
    settings = DashboardSettings(
        poll_s=s.number("poll_s", positive=True, maximum=60), bar_stale_s=s.number("bar_stale_s", positive=True)
    )
    s.done()
    return settings


def _notifications(s: _Section) -> NotificationSettings:
    urls = s._get("urls")
    if not isinstance(urls, list) or not all(isinstance(url, str) and url for url in urls):
        raise s.fail("urls", f"must be a list of apprise URLs (strings), got {urls!r}")
    events = s.sub("events")
    chosen = {name: events.text(name, choices=("on", "silent", "off")) for name in NOTIFICATION_EVENTS}
    events.done()
    settings = NotificationSettings(
        urls=tuple(urls),
        events=chosen,  # type: ignore[arg-type]
        timeout_s=s.number("timeout_s", positive=True, maximum=600),
        retry_first_s=s.number("retry_first_s", positive=True, maximum=86400),
        retry_max_s=s.number("retry_max_s", positive=True, maximum=86400),
        max_attempts=s.integer("max_attempts", minimum=1),
        poll_s=s.number("poll_s", positive=True, maximum=3600),
    )
    s.done()
    return settings


def _leadership(s: _Section) -> LeadershipSettings:
    settings = LeadershipSettings(
        lease_ttl_s=s.number("lease_ttl_s", positive=True, maximum=3600),
        renew_every_s=s.number("renew_every_s", positive=True, maximum=3600),
        renew_deadline_s=s.number("renew_deadline_s", positive=True, maximum=3600),
        renew_jitter_s=s.number("renew_jitter_s", minimum=0.0, maximum=3600),
        standby_every_s=s.number("standby_every_s", positive=True, maximum=3600),
        key=s.text("key"),
    )
    s.done()
    # The leader must pause (at the deadline) before its key can expire in Redis (the TTL), and must get more
    # than one renewal attempt in before the deadline, or a single slow round trip would cost a failover.
    if not settings.lease_ttl_s > settings.renew_deadline_s:
        raise s.fail(
            "renew_deadline_s",
            f"must be less than lease_ttl_s ({settings.lease_ttl_s:g}), got {settings.renew_deadline_s:g}",
        )
    if not settings.renew_deadline_s > 1.2 * settings.renew_every_s:
        raise s.fail(
            "renew_deadline_s",
            f"must be more than 1.2 × renew_every_s "
            f"({1.2 * settings.renew_every_s:g}), got {settings.renew_deadline_s:g}",
        )
    shortest = min(settings.renew_every_s, settings.standby_every_s)
    if not settings.renew_jitter_s < shortest:
        raise s.fail(
            "renew_jitter_s",
            f"must be less than renew_every_s and standby_every_s ({shortest:g}), got {settings.renew_jitter_s:g}",
        )
    return settings


def _calendar(name: str, raw: Any) -> CalendarConfig:
    s = _Section({name: raw}, name, "calendars.")
    calendar = CalendarConfig(
        name=name,
        financial_calendar=s.text("financial_calendar"),
        extra_holidays=s.days("extra_holidays"),
        extra_trading_days=s.days("extra_trading_days"),
    )
    s.done()
    return calendar


def _expiry(s: _Section) -> ExpiryRule:
    kind = s.text("rule", choices=("last_weekday", "day_of_month", "last_day"))
    months = tuple(s._get("months", list(range(1, 13))))
    if not months or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months):
        raise s.fail("months", f"must be a non-empty list of month numbers 1-12, got {list(months)!r}")
    weekday = day = None
    history: list[tuple[date, int]] = []
    if kind == "last_weekday":
        weekday = WEEKDAYS.index(s.text("weekday", choices=WEEKDAYS))
        for item in s.records("weekday_history"):
            if set(item) != {"until", "weekday"} or item["weekday"] not in WEEKDAYS:
                raise s.fail("weekday_history", f"each entry needs until (date) and weekday, got {dict(item)!r}")
            history.append((s.day("weekday_history", item["until"]), WEEKDAYS.index(item["weekday"])))
    elif kind == "day_of_month":
        day = s.integer("day", minimum=1)
        if day > 28:
            raise s.fail("day", f"must be 1-28 so every month has it, got {day}")
    rule = ExpiryRule(
        rule=kind,  # type: ignore[arg-type]
        weekday=weekday,
        weekday_history=tuple(sorted(history)),
        day=day,
        months=tuple(sorted(set(months))),
        dates=s.days("dates"),
    )
    s.done()
    return rule


def _instrument(name: str, raw: Any, calendars: Mapping[str, CalendarConfig], price_collar_pct: float) -> Instrument:
    if not name.isidentifier() or name.upper() != name:
        raise ConfigError(f"instruments.{name}: names are upper case words joined by _ (e.g. GOLD_MINI)")
    s = _Section({name: raw}, name, "instruments.")
    traded_as = s.text("traded_as", choices=("synthetic", "future"))
    history = []
    for item in s.records("lot_size_history"):
        if set(item) != {"from", "lots"}:
            raise s.fail("lot_size_history", f"each entry needs from (date) and lots, got {dict(item)!r}")
        lots = item["lots"]
        if isinstance(lots, bool) or not isinstance(lots, int) or lots <= 0:
            raise s.fail("lot_size_history", f"lots must be a whole number above 0, got {lots!r}")
        history.append((s.day("lot_size_history", item["from"]), lots))
    calendar = s.text("calendar")
    if calendar not in calendars:
        raise s.fail("calendar", f"no calendar {calendar!r} (known: {', '.join(sorted(calendars))})")
    instrument = Instrument(
        name=name,
        exchange=s.text("exchange"),
        calendar=calendar,
        symbol_root=s.text("symbol_root"),
        traded_as=traded_as,  # type: ignore[arg-type]
        strike_step=s.integer("strike_step", minimum=1) if traded_as == "synthetic" else None,
        lot_size=s.integer("lot_size", minimum=1),
        quote_unit=s.number("quote_unit", positive=True),
        tick=s.number("tick", positive=True),
        margin_per_lot=s.number("margin_per_lot", positive=True),
        initial_risk_pct=s.number("initial_risk_pct", positive=True, maximum=100),
        ongoing_risk_pct=s.number("ongoing_risk_pct", positive=True, maximum=100),
        initial_vol_pct=s.number("initial_vol_pct", positive=True, maximum=100),
        ongoing_vol_pct=s.number("ongoing_vol_pct", positive=True, maximum=100),
        initial_stop_atr=s.number("initial_stop_atr", positive=True),
        trailing_stop_atr=s.number("trailing_stop_atr", positive=True),
        max_pyramids=s.integer("max_pyramids"),
        price_collar_pct=s.number("price_collar_pct", positive=True, default=price_collar_pct),
        roll_days=s.integer("roll_days", minimum=1),
        market_open=s.clock("market_open"),  # type: ignore[arg-type]
        market_close=s.clock("market_close"),  # type: ignore[arg-type]
        market_close_us_standard_time=s.clock("market_close_us_standard_time", default=None),
        lot_size_history=tuple(sorted(history)),
        expiry=_expiry(s.sub("expiry")),
    )
    if instrument.market_open >= instrument.market_close:
        raise s.fail("market_close", "must be after market_open")
    if history and history[-1][1] != instrument.lot_size:
        raise s.fail("lot_size", f"is {instrument.lot_size} but lot_size_history ends at {history[-1][1]}")
    if instrument.ongoing_risk_pct < instrument.initial_risk_pct:
        raise s.fail("ongoing_risk_pct", "must be at least initial_risk_pct")
    if instrument.ongoing_vol_pct < instrument.initial_vol_pct:
        raise s.fail("ongoing_vol_pct", "must be at least initial_vol_pct")
    s.done()
    return instrument
