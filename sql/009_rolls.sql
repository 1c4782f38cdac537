-- Contract rolls as a persisted state machine (SPEC §7): one row per roll of an instrument's position, every
-- transition stored with its reason, each step applied as a stored signal (kind 'ROLL') in the SignalReceiver's
-- order, so a roll never interleaves with a signal for the same instrument. A layer keeps its row (its id and
-- history) through a roll: its contract, expiry and strike change, and its prices shift by the roll spread.
CREATE TABLE roll_states (name text PRIMARY KEY);  -- filled from basso/enums.py by basso migrate

ALTER TABLE positions ADD COLUMN strike integer;  -- a synthetic's strike (NULL: a future, or not recorded)

CREATE TABLE rolls (
    id           bigserial PRIMARY KEY,
    instrument   text          NOT NULL,
    state        text          NOT NULL,
    old_contract text          NOT NULL,
    old_expiry   date          NOT NULL,
    new_contract text          NOT NULL,
    new_expiry   date          NOT NULL,
    old_strike   integer,
    new_strike   integer,
    old_price    numeric(16,4) NOT NULL CHECK (old_price > 0),  -- the quotes the roll fills at
    new_price    numeric(16,4) NOT NULL CHECK (new_price > 0),
    closed_lots  integer       NOT NULL DEFAULT 0 CHECK (closed_lots >= 0),
    opened_lots  integer       NOT NULL DEFAULT 0 CHECK (opened_lots >= 0),
    reason       text          NOT NULL,
    started_at   timestamptz   NOT NULL,
    updated_at   timestamptz   NOT NULL
);
-- The states reference the lookup table once basso migrate has filled it (the rows come after this file).
CREATE UNIQUE INDEX rolls_active ON rolls (instrument) WHERE state NOT IN ('done', 'failed');

CREATE TABLE roll_transitions (
    id         bigserial PRIMARY KEY,
    roll       bigint      NOT NULL REFERENCES rolls,
    at         timestamptz NOT NULL,
    from_state text,
    to_state   text        NOT NULL,
    reason     text        NOT NULL,
    signal     bigint REFERENCES signals
);
CREATE INDEX roll_transitions_roll ON roll_transitions (roll, id);

-- A roll step's whole outcome in one fenced transaction, like basso_commit_outcome (sql/002): the signal's
-- outcome, the roll's new state and counters with one transition row per state passed, the layers shifted into
-- the new contract, one order row per leg, the roll's cost to the ledger, the mark, and the next step's signal.
-- Returns 'ok', or, with nothing written: 'processed', 'fence <epoch>', 'stale <version>'.
CREATE FUNCTION basso_commit_roll_step(p_epoch bigint, p_version bigint, p_signal bigint, p_key text,
                                       p_reason text, p_decision jsonb, p_at timestamptz, p_changes jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored_epoch bigint;
    stored_version bigint;
    step jsonb;
    moved jsonb;
    ord jsonb;
    next_signal jsonb;
    roll_id bigint := (p_changes->>'roll')::bigint;
    n integer := 0;
BEGIN
    SELECT epoch INTO stored_epoch FROM leader_fence WHERE id = 1 FOR SHARE;
    IF stored_epoch <> p_epoch THEN
        RETURN 'fence ' || stored_epoch;
    END IF;
    PERFORM FROM signals WHERE id = p_signal AND outcome = 'pending' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'processed';
    END IF;
    SELECT book_version INTO stored_version FROM controls WHERE id = 1 FOR UPDATE;
    IF stored_version <> p_version - 1 THEN
        RETURN 'stale ' || stored_version;
    END IF;
    UPDATE signals SET outcome = 'executed', reason = p_reason, decision = p_decision, processed_at = p_at,
                       epoch = p_epoch
     WHERE id = p_signal;

    FOR step IN SELECT * FROM jsonb_array_elements(p_changes->'transitions') LOOP
        INSERT INTO roll_transitions (roll, at, from_state, to_state, reason, signal)
        VALUES (roll_id, p_at, step->>'from', step->>'to', step->>'reason', p_signal);
    END LOOP;
    UPDATE rolls SET state = p_changes->>'state', closed_lots = (p_changes->>'closed_lots')::integer,
                     opened_lots = (p_changes->>'opened_lots')::integer, reason = p_changes->>'reason',
                     updated_at = p_at
     WHERE id = roll_id;

    FOR moved IN SELECT * FROM jsonb_array_elements(p_changes->'layers') LOOP
        UPDATE positions SET entry_price = (moved->>'entry')::numeric, initial_stop = (moved->>'initial_stop')::numeric,
                             current_stop = (moved->>'stop')::numeric, highest_close = (moved->>'highest')::numeric,
                             contract = moved->>'contract', expiry = (moved->>'expiry')::date,
                             strike = (moved->>'strike')::integer
         WHERE instrument = p_changes->>'instrument' AND layer = (moved->>'layer')::smallint AND status <> 'closed';
    END LOOP;

    FOR ord IN SELECT * FROM jsonb_array_elements(p_changes->'orders') LOOP
        INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots, quantity, price,
                            status, fill_price, commission, epoch)
        SELECT p_key || ':' || n || ':' || (ord->>'side') || ':' || (ord->>'symbol'), p_signal, p.id, 'paper',
               p.instrument, ord->>'symbol', ord->>'side', (ord->>'lots')::integer, (ord->>'quantity')::integer,
               (ord->>'price')::numeric, 'filled', (ord->>'price')::numeric, (ord->>'commission')::numeric, p_epoch
          FROM positions p
         WHERE p.instrument = p_changes->>'instrument' AND p.layer = (ord->>'layer')::smallint
           AND p.status <> 'closed';
        n := n + 1;
    END LOOP;

    IF (p_changes->>'cost')::numeric <> 0 THEN
        INSERT INTO ledger (at, kind, amount, position, signal, note)
        VALUES (p_at, 'roll_cost', -(p_changes->>'cost')::numeric, NULL, p_signal, p_changes->>'cost_note');
    END IF;

    -- The mark re-based into the new contract; when it was observed is unchanged (the price collar reads it).
    IF jsonb_typeof(p_changes->'mark') = 'object' THEN
        UPDATE instrument_marks SET price = (p_changes->'mark'->>'price')::numeric
         WHERE instrument = p_changes->'mark'->>'instrument';
    END IF;

    next_signal := p_changes->'next_signal';
    IF jsonb_typeof(next_signal) = 'object' THEN
        INSERT INTO signals (key, kind, instrument, signal_time, payload)
        VALUES (next_signal->>'key', 'ROLL', p_changes->>'instrument', p_at, next_signal->'payload');
    END IF;

    -- The day's highest sizing equity, as basso_commit_outcome (sql/006) keeps it.
    IF (p_changes->>'day_peak')::numeric > 0 THEN
        INSERT INTO equity_peaks (day, peak)
        VALUES (coalesce((p_changes->>'day')::date, (p_at AT TIME ZONE 'Asia/Kolkata')::date),
                (p_changes->>'day_peak')::numeric)
        ON CONFLICT (day) DO UPDATE SET peak = greatest(equity_peaks.peak, EXCLUDED.peak);
    END IF;
    UPDATE controls SET book_version = p_version WHERE id = 1;
    RETURN 'ok';
END;
$$;

-- Roll steps come before other pending signals of their instrument: a roll under way is finished before the
-- instrument's next signal is decided, while another instrument's signals keep their place.
CREATE INDEX signals_pending_rolls ON signals (instrument, id) WHERE outcome = 'pending' AND kind = 'ROLL';

-- The order in which outcomes were committed: with roll steps going first, it is no longer the order of ids, and
-- a replay (and an auditor) must follow it. Commits are serialised on the controls row, so the sequence's order
-- is the commit order.
CREATE SEQUENCE signals_applied;
ALTER TABLE signals ADD COLUMN applied bigint;
CREATE FUNCTION basso_signal_applied() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.applied := nextval('signals_applied');
    RETURN NEW;
END;
$$;
CREATE TRIGGER signal_applied BEFORE UPDATE OF outcome ON signals
    FOR EACH ROW WHEN (OLD.outcome = 'pending' AND NEW.outcome <> 'pending') EXECUTE FUNCTION basso_signal_applied();
