-- Orders in two steps (docs/rules.md §8, docs/architecture.md "Exactly once"). A decision commits its layers
-- (`opening` / `closing`) and their orders (`pending`) in one fenced transaction; every placement result, fill,
-- reject and cancel is then its own fenced transaction (basso/store/orders.py). Working orders count in the
-- book: a layer `opening` at its intended lots and stop, a layer `closing` (or the peeled part of one) no more.

-- A rejected entry closes its layer at 0 lots, with the broker's reason: only a closed row may hold none.
ALTER TABLE positions DROP CONSTRAINT positions_lots_check;
ALTER TABLE positions ADD CONSTRAINT positions_lots_check CHECK (lots > 0 OR (status = 'closed' AND lots = 0));
-- One live row per layer; a row `closing` is on its way out and no longer holds the layer (the next BASE_ENTRY
-- may open Long_1 again while the last one's exit is still working).
DROP INDEX positions_live_layer;
CREATE UNIQUE INDEX positions_live_layer ON positions (instrument, layer) WHERE status IN ('opening', 'partial', 'open');

-- The facts' version each decision and each fill produced: the order they happened in, which a replay follows.
ALTER TABLE signals ADD COLUMN book_version bigint;

ALTER TABLE orders ADD COLUMN filled_lots integer NOT NULL DEFAULT 0 CHECK (filled_lots >= 0);
ALTER TABLE orders ADD COLUMN reason text NOT NULL DEFAULT '';  -- the broker's words on a reject, or why unknown
ALTER TABLE orders ADD COLUMN checks integer NOT NULL DEFAULT 0;  -- broker reads spent resolving an unknown order
ALTER TABLE orders ADD COLUMN ended_version bigint;  -- the facts' version a reject or cancel produced
CREATE INDEX orders_working ON orders (id) WHERE status IN ('pending', 'sent', 'partial', 'unknown');

-- Every fill as the broker reported it: the ledger is booked from these (quantity-weighted average price).
CREATE TABLE fills (
    id           bigserial PRIMARY KEY,
    order_id     bigint        NOT NULL REFERENCES orders,
    lots         integer       NOT NULL CHECK (lots > 0),
    price        numeric(16,4) NOT NULL CHECK (price > 0),
    commission   numeric(18,2) NOT NULL,
    at           timestamptz   NOT NULL,
    book_version bigint        NOT NULL,
    epoch        bigint        NOT NULL
);
CREATE INDEX fills_order ON fills (order_id);

-- Step one: a signal's decision, its stop moves and mark, its alerts, the day's peak, and its working layers and
-- orders, in one round trip (sql/006's basso_commit_outcome, with orders `pending` instead of fills).
-- Returns 'ok', or with nothing written: 'processed', 'fence <stored epoch>', 'stale <stored version>'.
CREATE FUNCTION basso_commit_decision(p_epoch bigint, p_version bigint, p_signal bigint, p_outcome text,
                                      p_reason text, p_decision jsonb, p_at timestamptz, p_broker text,
                                      p_changes jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored_epoch bigint;
    stored_version bigint;
    move jsonb;
    o jsonb;
    alert jsonb;
    live positions%ROWTYPE;
    position_id bigint;
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
    UPDATE signals SET outcome = p_outcome, reason = p_reason, decision = p_decision, processed_at = p_at,
                       epoch = p_epoch, book_version = p_version
     WHERE id = p_signal;

    FOR move IN SELECT * FROM jsonb_array_elements(p_changes->'stop_moves') LOOP
        UPDATE positions SET current_stop = (move->>'stop')::numeric, highest_close = (move->>'highest')::numeric
         WHERE instrument = move->>'instrument' AND layer = (move->>'layer')::smallint
           AND status IN ('opening', 'partial', 'open');
    END LOOP;

    FOR o IN SELECT * FROM jsonb_array_elements(p_changes->'orders') LOOP
        IF (o->>'opening')::boolean THEN
            INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,
                                   highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at,
                                   entry_signal)
            VALUES (o->>'instrument', (o->>'layer')::smallint, 'opening', (o->>'lots')::integer,
                    (o->>'price')::numeric, (o->>'stop')::numeric, (o->>'stop')::numeric, (o->>'price')::numeric,
                    (o->>'atr')::numeric, (o->>'point_value')::numeric, (o->>'margin_per_lot')::numeric,
                    coalesce(o->>'contract', ''), (o->>'expiry')::date, p_at, p_signal)
            RETURNING id INTO position_id;
        ELSE
            SELECT * INTO live FROM positions
             WHERE instrument = o->>'instrument' AND layer = (o->>'layer')::smallint
               AND status IN ('opening', 'partial', 'open');
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no live position for % Long_%: the book and the database disagree',
                    o->>'instrument', o->>'layer';
            END IF;
            IF (o->>'whole')::boolean THEN
                UPDATE positions SET status = 'closing', exit_signal = p_signal, exit_reason = left(o->>'reason', 200)
                 WHERE id = live.id;
                position_id := live.id;
            ELSE
                -- A peel-off: the live row keeps the rest; the peeled lots leave as a row of their own.
                UPDATE positions SET lots = lots - (o->>'lots')::integer WHERE id = live.id;
                INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,
                                       highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at,
                                       entry_signal, exit_signal, exit_reason)
                VALUES (live.instrument, live.layer, 'closing', (o->>'lots')::integer, live.entry_price,
                        live.initial_stop, live.current_stop, live.highest_close, live.atr, live.point_value,
                        live.margin_per_lot, live.contract, live.expiry, live.opened_at, live.entry_signal, p_signal,
                        left(o->>'reason', 200))
                RETURNING id INTO position_id;
            END IF;
        END IF;
        INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots, quantity, price,
                            status, epoch)
        VALUES (o->>'client_id', p_signal, position_id, p_broker, o->>'instrument', o->>'instrument', o->>'side',
                (o->>'lots')::integer, (o->>'lots')::integer, (o->>'price')::numeric, 'pending', p_epoch);
    END LOOP;

    IF p_changes->'mark' IS NOT NULL AND jsonb_typeof(p_changes->'mark') = 'object' THEN
        INSERT INTO instrument_marks (instrument, price, atr, at, bar_at)
        VALUES (p_changes->'mark'->>'instrument', (p_changes->'mark'->>'price')::numeric,
                (p_changes->'mark'->>'atr')::numeric, (p_changes->'mark'->>'at')::timestamptz,
                CASE WHEN (p_changes->'mark'->>'bar')::boolean THEN (p_changes->'mark'->>'at')::timestamptz END)
        ON CONFLICT (instrument) DO UPDATE SET price = EXCLUDED.price, atr = EXCLUDED.atr, at = EXCLUDED.at,
                                               bar_at = coalesce(EXCLUDED.bar_at, instrument_marks.bar_at);
    END IF;

    FOR alert IN SELECT * FROM jsonb_array_elements(coalesce(p_changes->'alerts', '[]'::jsonb)) LOOP
        INSERT INTO alerts (at, level, kind, instrument, message, detail)
        VALUES (p_at, alert->>'level', alert->>'kind', alert->>'instrument', alert->>'message',
                alert->'detail');
    END LOOP;

    -- The day's highest sizing equity: the drawdown peak is the highest of the window's days.
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
