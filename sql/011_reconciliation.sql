-- Reconciliation with the broker (docs/rules.md §8): at the end of Recovery and every `[broker] reconcile_every_s`, the
-- broker's position book against the layers we hold, per symbol. Each check is a row; the newest one decides
-- which instruments take no new entries (a break: missing at the broker, missing here, a quantity mismatch, or
-- a position book that could not be read, which blocks every instrument). Exits are never blocked.
CREATE TABLE reconciliations (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL,
    epoch   bigint      NOT NULL,
    matched boolean     NOT NULL,
    breaks  jsonb       NOT NULL DEFAULT '[]'::jsonb,  -- [{instrument, symbol, kind, expected, at_broker}]
    error   text        NOT NULL DEFAULT ''            -- why the position book could not be read
);
CREATE INDEX reconciliations_newest ON reconciliations (id DESC);
