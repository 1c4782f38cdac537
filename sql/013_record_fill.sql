-- A fill's writes in one round trip (basso/store/orders.py record_fill). The caller has read the order and its
-- layer and worked out in Python (basso.rules.money, the one place the money rules live) the order's new status
-- and average price, the layer's new state and the ledger rows; this function checks the fence and that the order
-- is still as the caller read it (`p_before` lots filled, the layer's entry at `p_entry`), with both rows locked,
-- then writes it all: the facts' version, the order, the fill, the ledger, the layer, and what the book reached
-- (the day's peak and the band alert, as basso_commit_decision keeps them).
-- Returns 'ok <new version>', or, with nothing written: 'fence <stored epoch>', 'done' (the order will fill no
-- more), 'moved' (another write changed it since it was read: read it again).
--
-- p_layer: {"opened": lots, "average": price} an entry filled completely (the actual price becomes the entry),
--          {"partial": true} an entry partly filled, {"closed": {"exit_price": p, "pnl": x}} an exit filled
--          completely, or null (an exit partly filled, or a roll's leg: the layer waits).
-- p_ledger: [{"kind", "amount", "note"}], the signed amounts (basso.rules.money.ledger_amount).
-- p_after: null, or {"day", "day_peak", "alerts": [...]}.
CREATE FUNCTION basso_record_fill(p_epoch bigint, p_order bigint, p_before integer, p_entry numeric,
                                  p_at timestamptz, p_lots integer, p_price numeric, p_commission numeric,
                                  p_broker_order_id text, p_status text, p_filled integer, p_average numeric,
                                  p_layer jsonb, p_ledger jsonb, p_after jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored_epoch bigint;
    current record;
    new_version bigint;
    layer_id bigint;
    signal_id bigint;
    row_ jsonb;
BEGIN
    SELECT epoch INTO stored_epoch FROM leader_fence WHERE id = 1 FOR SHARE;
    IF stored_epoch <> p_epoch THEN
        RETURN 'fence ' || stored_epoch;
    END IF;
    -- The facts' version first, the order and its layer next: the order basso_commit_decision takes its locks in
    -- (a decision exiting this layer while its fill is recorded would otherwise wait for it in a cycle).
    PERFORM FROM controls WHERE id = 1 FOR UPDATE;
    SELECT o.status, o.filled_lots, p.entry_price INTO current
      FROM orders o JOIN positions p ON p.id = o.position WHERE o.id = p_order FOR UPDATE OF o, p;
    IF current.status IN ('filled', 'rejected', 'cancelled') THEN
        RETURN 'done';
    END IF;
    IF current.filled_lots <> p_before OR current.entry_price <> p_entry THEN
        RETURN 'moved';
    END IF;
    UPDATE controls SET book_version = book_version + 1 WHERE id = 1 RETURNING book_version INTO new_version;
    UPDATE orders SET status = p_status, filled_lots = p_filled, fill_price = p_average,
                      commission = coalesce(commission, 0) + p_commission,
                      broker_order_id = coalesce(p_broker_order_id, broker_order_id), updated_at = p_at,
                      epoch = p_epoch
     WHERE id = p_order
    RETURNING position, signal INTO layer_id, signal_id;
    INSERT INTO fills (order_id, lots, price, commission, at, book_version, epoch)
    VALUES (p_order, p_lots, p_price, p_commission, p_at, new_version, p_epoch);

    IF p_layer ? 'opened' THEN
        -- Unless a bar has already raised it, the highest close is the actual entry too (rules.orders.filled_layer).
        UPDATE positions
           SET status = CASE WHEN status = 'closing' THEN status ELSE 'open' END,
               lots = (p_layer->>'opened')::integer,
               highest_close = CASE WHEN highest_close = entry_price THEN (p_layer->>'average')::numeric
                                    ELSE greatest(highest_close, (p_layer->>'average')::numeric) END,
               entry_price = (p_layer->>'average')::numeric
         WHERE id = layer_id;
    ELSIF p_layer ? 'partial' THEN
        UPDATE positions SET status = 'partial' WHERE id = layer_id AND status = 'opening';
    ELSIF p_layer ? 'closed' THEN
        UPDATE positions SET status = 'closed', closed_at = p_at,
                             exit_price = (p_layer->'closed'->>'exit_price')::numeric,
                             realised_pnl = (p_layer->'closed'->>'pnl')::numeric
         WHERE id = layer_id;
    END IF;

    FOR row_ IN SELECT * FROM jsonb_array_elements(p_ledger) LOOP
        INSERT INTO ledger (at, kind, amount, position, signal, note)
        VALUES (p_at, row_->>'kind', (row_->>'amount')::numeric, layer_id, signal_id, row_->>'note');
    END LOOP;

    IF p_after IS NOT NULL AND jsonb_typeof(p_after) = 'object' THEN
        IF (p_after->>'day_peak')::numeric > 0 THEN
            INSERT INTO equity_peaks (day, peak)
            VALUES (coalesce((p_after->>'day')::date, (p_at AT TIME ZONE 'Asia/Kolkata')::date),
                    (p_after->>'day_peak')::numeric)
            ON CONFLICT (day) DO UPDATE SET peak = greatest(equity_peaks.peak, EXCLUDED.peak);
        END IF;
        FOR row_ IN SELECT * FROM jsonb_array_elements(coalesce(p_after->'alerts', '[]'::jsonb)) LOOP
            INSERT INTO alerts (at, level, kind, instrument, message, detail)
            VALUES (p_at, row_->>'level', row_->>'kind', row_->>'instrument', row_->>'message', row_->'detail');
        END LOOP;
    END IF;
    RETURN 'ok ' || new_version;
END;
$$;
