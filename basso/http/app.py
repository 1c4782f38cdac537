"""The aiohttp application: routes and the typed state they share."""

from __future__ import annotations

from aiohttp import web

from basso.http import api, controls, equity, health
from basso.http.dashboard import setup_dashboard
from basso.http.state import SERVICES, Services
from basso.http.webhook import webhook


def build_app(services: Services) -> web.Application:
    """The application with every route; `services` carries the pool, config and callbacks."""
    # The webhook reads its own body with a tighter limit; this bound protects every other route.
    app = web.Application(client_max_size=64 * 1024)
    app[SERVICES] = services
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/health/live", health.live)
    app.router.add_get("/health/ready", health.ready)
    app.router.add_get("/leader", health.leader)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/api/status", api.status)
    app.router.add_get("/api/reconciliation", api.reconciliation)
    app.router.add_get("/api/positions", api.positions)
    app.router.add_get("/api/signals", api.signals)
    app.router.add_get("/api/signals/{signal_id}", api.signal)
    app.router.add_get("/api/ledger", api.ledger)
    app.router.add_get("/api/trades", api.trades)
    app.router.add_get("/api/equity", equity.equity)
    app.router.add_get("/api/rollover", api.rollover)
    app.router.add_post("/api/rollover", controls.rollover)
    app.router.add_get("/api/alerts", api.alerts)
    app.router.add_post("/api/alerts/ack", controls.acknowledge_alert)
    app.router.add_post("/api/kill-switch", controls.kill_switch)
    app.router.add_post("/api/flatten", controls.flatten)
    app.router.add_post("/api/capital", controls.capital)
    app.router.add_post("/api/drawdown/reset", controls.drawdown_reset)
    app.router.add_post("/api/orders/resolve", controls.resolve_order)
    setup_dashboard(app)
    return app
