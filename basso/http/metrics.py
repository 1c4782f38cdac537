"""Prometheus metrics, in a registry per application so that several apps in one process never collide."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Actor statistics arrive as plain mappings (see basso.actors); these keys become per-actor gauges.
ACTOR_GAUGES = {
    "queue_depth": "Messages waiting in the actor's mailbox",
    "handled": "Messages the actor has handled",
    "failed": "Messages that crashed the actor",
    "restarts": "Times the supervisor restarted the actor",
}


class _ActorCollector(Collector):
    def __init__(self, source: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        self.source = source

    def collect(self) -> Iterable[GaugeMetricFamily]:
        stats = self.source()
        for key, help_text in ACTOR_GAUGES.items():
            family = GaugeMetricFamily(f"basso_actor_{key}", help_text, labels=["actor"])
            for actor, snapshot in sorted(stats.items()):
                value = snapshot.get(key)
                if isinstance(value, int | float):
                    family.add_metric([actor], float(value))
            yield family


@dataclass
class Metrics:
    """Every metric Basso exposes on /metrics."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self._lag_max = 0.0
        self.webhook_requests = Counter("basso_webhook_requests", "Webhook requests by reply", ["verdict"], registry=r)
        self.webhook_latency = Histogram(
            "basso_webhook_latency_seconds",
            "Time from request to reply",
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.signals = Counter("basso_signals", "Processed signals by outcome", ["outcome"], registry=r)
        self.portfolio_risk_pct = Gauge("basso_portfolio_risk_pct", "Open risk, percent of equity", registry=r)
        self.portfolio_vol_pct = Gauge("basso_portfolio_vol_pct", "Volatility, percent of equity", registry=r)
        self.margin_utilisation_pct = Gauge(
            "basso_margin_utilisation_pct", "Margin used, percent of equity", registry=r
        )
        self.open_positions = Gauge("basso_open_positions", "Open layers", registry=r)
        self.leader_epoch = Gauge("basso_leader_epoch", "Fence epoch held by this instance (0: none)", registry=r)
        self.leadership_transitions = Counter("basso_leadership_transitions", "Leadership gained or lost", registry=r)
        self.lease_renew_latency = Histogram(
            "basso_lease_renew_seconds",
            "Redis lease renewal latency",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0),
        )
        # A stall of the one event loop delays every webhook and actor: the histogram shows how often, the
        # maximum how bad (bucket bounds from a few ms of ordinary scheduling noise up to a lost lease).
        self.event_loop_lag = Histogram(
            "basso_event_loop_lag_seconds",
            "How late the event loop ran a timer",
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.event_loop_lag_max = Gauge(
            "basso_event_loop_lag_max_seconds", "Longest event-loop lag since the process started", registry=r
        )
        self.event_loop_lag_max_busy = Gauge(
            "basso_event_loop_lag_max_busy_ratio",
            "CPU time the event loop's thread used over the wall time of the longest lag's measurement: near 1 our"
            " own code held the loop, near 0 the process was not running (other processes had the cores)",
            registry=r,
        )
        self.gc_pause = Histogram(
            "basso_gc_pause_seconds",
            "Garbage-collector pauses by generation",
            ["generation"],
            registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25),
        )

    def loop_lagged(self, seconds: float, busy: float) -> None:
        """Record one event-loop lag measurement, and how busy the loop's thread was meanwhile (basso/looplag.py)."""
        self.event_loop_lag.observe(seconds)
        if seconds > self._lag_max:
            self._lag_max = seconds
            self.event_loop_lag_max.set(seconds)
            self.event_loop_lag_max_busy.set(busy)

    def collected(self, generation: int, seconds: float) -> None:
        """Record one garbage collection's pause."""
        self.gc_pause.labels(str(generation)).observe(seconds)

    def watch_actors(self, source: Callable[[], Mapping[str, Mapping[str, Any]]]) -> None:
        """Expose per-actor statistics, read from `source` at every scrape."""
        self.registry.register(_ActorCollector(source))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
