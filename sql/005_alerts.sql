-- Alerts are facts (docs/rules.md §10): a reconciliation break, an order in an unknown state, a broker session failure,
-- a roll failed or overdue, a drawdown band entered or left, a dead letter, a leadership change, the kill
-- switch, a missing bar close. Written by whoever notices (some by the leader under its fence, in the same
-- transaction as the fact that raised them), read by the API, the dashboard and the notifier, acknowledged
-- by the operator. `dedupe` lets a condition that persists be raised once until it is acknowledged or cleared.
CREATE TABLE alert_levels (name text PRIMARY KEY);  -- filled from basso/enums.py by basso migrate

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    level           text NOT NULL REFERENCES alert_levels,
    kind            text NOT NULL CHECK (kind <> ''),
    instrument      text,
    message         text NOT NULL CHECK (message <> ''),
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedupe          text,
    acknowledged_at timestamptz,
    acknowledged_by text
);

CREATE INDEX alerts_newest ON alerts (id DESC);
CREATE INDEX alerts_unacknowledged ON alerts (id) WHERE acknowledged_at IS NULL;
-- One open (unacknowledged) alert per dedupe key: raising it again while it is open changes nothing.
CREATE UNIQUE INDEX alerts_open_dedupe ON alerts (dedupe) WHERE dedupe IS NOT NULL AND acknowledged_at IS NULL;
