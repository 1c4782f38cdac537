-- Drawdown bands you can leave, marks that only move forward, alerts with their outcome (docs/rules.md §2, §9, §10).
--
-- * equity_peaks: the highest sizing equity of each exchange day. The drawdown peak is the highest row of the
--   last `drawdown.peak_days` days (0: all rows). Capital flows move every row with them (a deposit of D adds
--   D; a withdrawal of W scales by (equity − W) ÷ equity), an operator's reset replaces them all with today's
--   equity. It takes over from controls.equity_peak, whose value seeds today's row (the column stays, unread).
-- * controls.peak_reset_*: the last reset, shown by /api/status (every reset is also in control_audit).
-- * instrument_marks.at is now the time the price was observed (the signal's or bar's own timestamp, which the
--   24-hour price collar reads); bar_at is the newest MARKET_DATA bar applied: a bar not after it is ignored.
-- * The commit function is sql/004's with three changes: the mark carries its time and whether it is a bar;
--   the day's peak goes to equity_peaks instead of controls.equity_peak; the outcome's alerts (a drawdown
--   band entered or left, a price outside the collar) are inserted in the same transaction.
CREATE TABLE equity_peaks (
    day  date PRIMARY KEY,
    peak numeric(18,2) NOT NULL
);
INSERT INTO equity_peaks (day, peak)
SELECT (now() AT TIME ZONE 'Asia/Kolkata')::date, equity_peak FROM controls WHERE id = 1 AND equity_peak > 0;

ALTER TABLE controls ADD COLUMN peak_reset_at timestamptz,
                     ADD COLUMN peak_reset_by text,
                     ADD COLUMN peak_reset_reason text;

ALTER TABLE instrument_marks ADD COLUMN bar_at timestamptz;

CREATE OR REPLACE FUNCTION basso_commit_outcome(p_epoch bigint, p_version bigint, p_signal bigint, p_key text,
                                     p_outcome text, p_reason text, p_decision jsonb, p_at timestamptz,
                                     p_changes jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored_epoch bigint;
    stored_version bigint;
    move jsonb;
    fill jsonb;
    entry jsonb;
    alert jsonb;
    live positions%ROWTYPE;
    position_id bigint;
    positions_by_layer jsonb := '{}'::jsonb;
    layer_key text;
    n integer := 0;
BEGIN
    -- The fence, under a share lock: a takeover waits for this transaction, and a stale leader writes nothing.
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
                       epoch = p_epoch
     WHERE id = p_signal;

    FOR move IN SELECT * FROM jsonb_array_elements(p_changes->'stop_moves') LOOP
        UPDATE positions SET current_stop = (move->>'stop')::numeric, highest_close = (move->>'highest')::numeric
         WHERE instrument = move->>'instrument' AND layer = (move->>'layer')::smallint AND status <> 'closed';
    END LOOP;

    FOR fill IN SELECT * FROM jsonb_array_elements(p_changes->'fills') LOOP
        layer_key := (fill->>'instrument') || ':' || (fill->>'layer');
        IF (fill->>'opening')::boolean THEN
            INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,
                                   highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at,
                                   entry_signal)
            VALUES (fill->>'instrument', (fill->>'layer')::smallint, 'open', (fill->>'lots')::integer,
                    (fill->>'price')::numeric, (fill->>'stop')::numeric, (fill->>'stop')::numeric,
                    (fill->>'price')::numeric, (fill->>'atr')::numeric, (fill->>'point_value')::numeric,
                    (fill->>'margin_per_lot')::numeric, coalesce(fill->>'contract', ''), (fill->>'expiry')::date,
                    p_at, p_signal)
            RETURNING id INTO position_id;
        ELSE
            SELECT * INTO live FROM positions
             WHERE instrument = fill->>'instrument' AND layer = (fill->>'layer')::smallint AND status <> 'closed';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no live position for % Long_%: the book and the database disagree',
                    fill->>'instrument', fill->>'layer';
            END IF;
            IF (fill->>'whole')::boolean THEN
                UPDATE positions SET status = 'closed', closed_at = p_at, exit_price = (fill->>'price')::numeric,
                                     exit_signal = p_signal, exit_reason = left(fill->>'reason', 200),
                                     realised_pnl = (fill->>'pnl')::numeric
                 WHERE id = live.id;
                position_id := live.id;
            ELSE
                -- A peel-off: the live row keeps the rest; the peeled lots become a closed row of their own.
                UPDATE positions SET lots = lots - (fill->>'lots')::integer WHERE id = live.id;
                INSERT INTO positions (instrument, layer, status, lots, entry_price, initial_stop, current_stop,
                                       highest_close, atr, point_value, margin_per_lot, contract, expiry, opened_at,
                                       entry_signal, closed_at, exit_price, exit_signal, exit_reason, realised_pnl)
                VALUES (live.instrument, live.layer, 'closed', (fill->>'lots')::integer, live.entry_price,
                        live.initial_stop, live.current_stop, live.highest_close, live.atr, live.point_value,
                        live.margin_per_lot, live.contract, live.expiry, live.opened_at, live.entry_signal, p_at,
                        (fill->>'price')::numeric, p_signal, left(fill->>'reason', 200), (fill->>'pnl')::numeric)
                RETURNING id INTO position_id;
            END IF;
        END IF;
        positions_by_layer := positions_by_layer || jsonb_build_object(layer_key, position_id);
        INSERT INTO orders (client_id, signal, position, broker, instrument, symbol, side, lots, quantity, price,
                            status, fill_price, commission, epoch)
        VALUES (p_key || ':' || n || ':' || (fill->>'side') || ':' || (fill->>'instrument') || ':L' || (fill->>'layer'),
                p_signal, position_id, 'paper', fill->>'instrument', fill->>'instrument', fill->>'side',
                (fill->>'lots')::integer, (fill->>'lots')::integer, (fill->>'price')::numeric, 'filled',
                (fill->>'price')::numeric, (fill->>'commission')::numeric, p_epoch);
        n := n + 1;
    END LOOP;

    FOR entry IN SELECT * FROM jsonb_array_elements(p_changes->'ledger') LOOP
        INSERT INTO ledger (at, kind, amount, position, signal, note)
        VALUES (p_at, entry->>'kind', (entry->>'amount')::numeric,
                (positions_by_layer->>((entry->>'instrument') || ':' || (entry->>'layer')))::bigint, p_signal,
                entry->>'note');
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
        VALUES (p_at, alert->>'level', alert->>'kind', alert->>'instrument', alert->>'message', alert->'detail');
    END LOOP;

    -- The day's highest sizing equity: the drawdown peak is the highest of the window's days.
    IF (p_changes->>'day_peak')::numeric > 0 THEN
        INSERT INTO equity_peaks (day, peak)
        VALUES (coalesce((p_changes->>'day')::date, (p_at AT TIME ZONE 'Asia/Kolkata')::date),
                (p_changes->>'day_peak')::numeric)
        ON CONFLICT (day) DO UPDATE SET peak = greatest(equity_peaks.peak, EXCLUDED.peak);
    END IF;
    -- The controls row, locked above, is written once: the facts' new version.
    UPDATE controls SET book_version = p_version WHERE id = 1;
    RETURN 'ok';
END;
$$;
