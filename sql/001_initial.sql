-- Basso's system of record. Facts only: aggregates (equity, risk, margin) are derived from these rows.
-- Money is NUMERIC(18,2) (rupees and paise), prices NUMERIC(16,4), times timestamptz.
-- Enumerated states reference lookup tables that `basso migrate` fills from basso/enums.py.

CREATE TABLE signal_outcomes   (name text PRIMARY KEY);
CREATE TABLE position_statuses (name text PRIMARY KEY);
CREATE TABLE ledger_kinds      (name text PRIMARY KEY);
CREATE TABLE order_sides       (name text PRIMARY KEY);
CREATE TABLE order_statuses    (name text PRIMARY KEY);

-- The leader fence: one row. A new leader increments the epoch; every side-effecting transaction first
-- locks this row and checks the epoch is still its own (docs/architecture.md).
CREATE TABLE leader_fence (
    id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    epoch      bigint      NOT NULL DEFAULT 0,
    holder     text        NOT NULL DEFAULT '',
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO leader_fence (id) VALUES (1);

CREATE TABLE leadership_history (
    id       bigserial PRIMARY KEY,
    epoch    bigint      NOT NULL,
    holder   text        NOT NULL,
    event    text        NOT NULL CHECK (event IN ('gained', 'lost', 'released')),
    reason   text        NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);

-- The inbox: every accepted webhook signal, acknowledged only once this row is committed.
CREATE TABLE signals (
    id            bigserial PRIMARY KEY,
    key           text        NOT NULL UNIQUE,       -- idempotency key (docs/rules.md §9)
    client_signal_id text,                           -- the sender's signal_id, if any
    kind          text        NOT NULL,              -- BASE_ENTRY | PYRAMID | EXIT | MARKET_DATA
    instrument    text        NOT NULL,
    layer         smallint,                          -- 1..6, NULL for ALL and market data
    signal_time   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    payload       jsonb       NOT NULL,              -- the parsed signal, secret removed
    outcome       text        NOT NULL DEFAULT 'pending' REFERENCES signal_outcomes,
    reason        text        NOT NULL DEFAULT '',
    decision      jsonb,                             -- the numbers behind the outcome: R, V, M, gates, zones
    processed_at  timestamptz,
    epoch         bigint                             -- the leader epoch that processed it
);
CREATE INDEX signals_pending ON signals (id) WHERE outcome = 'pending';

-- Every webhook request, accepted or not (rejected bodies truncated).
CREATE TABLE webhook_audit (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    source      text        NOT NULL,
    http_status smallint    NOT NULL,
    verdict     text        NOT NULL,
    field       text,
    error       text,
    signal      bigint REFERENCES signals,
    body        text        NOT NULL
);

-- One row per layer per trade; never reused, never overwritten by a later trade.
CREATE TABLE positions (
    id             bigserial PRIMARY KEY,
    instrument     text          NOT NULL,
    layer          smallint      NOT NULL CHECK (layer BETWEEN 1 AND 6),
    status         text          NOT NULL REFERENCES position_statuses,
    lots           integer       NOT NULL CHECK (lots > 0),
    entry_price    numeric(16,4) NOT NULL CHECK (entry_price > 0),
    initial_stop   numeric(16,4) NOT NULL CHECK (initial_stop > 0),
    current_stop   numeric(16,4) NOT NULL CHECK (current_stop > 0),
    highest_close  numeric(16,4) NOT NULL,
    atr            numeric(16,4) NOT NULL CHECK (atr > 0),
    point_value    numeric(12,4) NOT NULL CHECK (point_value > 0),
    margin_per_lot numeric(18,2) NOT NULL,
    contract       text          NOT NULL DEFAULT '',
    expiry         date,
    opened_at      timestamptz   NOT NULL,
    entry_signal   bigint        NOT NULL REFERENCES signals,
    closed_at      timestamptz,
    exit_price     numeric(16,4),
    exit_signal    bigint REFERENCES signals,
    exit_reason    text,
    realised_pnl   numeric(18,2),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
-- At most one live row per instrument and layer: a second BASE_ENTRY cannot replace a live Long_1.
CREATE UNIQUE INDEX positions_live_layer ON positions (instrument, layer) WHERE status <> 'closed';
CREATE INDEX positions_closed_at ON positions (closed_at) WHERE status = 'closed';

-- The one ledger. Closed equity = sum(amount). Signed amounts, append-only.
CREATE TABLE ledger (
    id        bigserial PRIMARY KEY,
    at        timestamptz   NOT NULL,
    kind      text          NOT NULL REFERENCES ledger_kinds,
    amount    numeric(18,2) NOT NULL CHECK (amount <> 0),
    position  bigint REFERENCES positions,
    signal    bigint REFERENCES signals,
    note      text          NOT NULL DEFAULT ''
);

-- The outbox: orders with deterministic client ids, sent only from committed rows.
CREATE TABLE orders (
    id              bigserial PRIMARY KEY,
    client_id       text          NOT NULL UNIQUE,
    signal          bigint REFERENCES signals,
    position        bigint REFERENCES positions,
    broker          text          NOT NULL,
    instrument      text          NOT NULL,
    symbol          text          NOT NULL,
    side            text          NOT NULL REFERENCES order_sides,
    lots            integer       NOT NULL CHECK (lots > 0),
    quantity        integer       NOT NULL CHECK (quantity > 0),
    price           numeric(16,4),
    status          text          NOT NULL REFERENCES order_statuses,
    broker_order_id text,
    fill_price      numeric(16,4),
    commission      numeric(18,2),
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    epoch           bigint        NOT NULL
);

-- The latest price and ATR per instrument (from signals and market-data bars): marks and volatility.
CREATE TABLE instrument_marks (
    instrument text PRIMARY KEY,
    price      numeric(16,4) NOT NULL,
    atr        numeric(16,4) NOT NULL,
    at         timestamptz   NOT NULL
);

-- Messages that crashed their actor three times.
CREATE TABLE dead_letters (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text        NOT NULL,
    signal   bigint REFERENCES signals,
    message  text        NOT NULL,
    error    text        NOT NULL,
    attempts integer     NOT NULL
);

-- Switches an operator sets; every change is audited.
CREATE TABLE controls (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    kill_switch boolean       NOT NULL DEFAULT false,
    equity_peak numeric(18,2) NOT NULL DEFAULT 0,  -- highest sizing equity seen, for the drawdown rules
    changed_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO controls (id) VALUES (1);

CREATE TABLE control_audit (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    action text        NOT NULL,
    actor  text        NOT NULL,
    detail text        NOT NULL DEFAULT ''
);
