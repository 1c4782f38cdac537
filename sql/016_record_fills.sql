-- Fills recorded together (basso/store/orders.py record_fills): one call, one transaction, one wait for the disk.
--
-- Every fill moves the facts' version on, so each takes the `controls` row and holds it until it commits: fills
-- recorded one per transaction queue on that row, each through its own commit (on a loaded two-core machine, the
-- lock wait was most of a fill's time in PostgreSQL). Orders that finish together (one trade book read) are
-- recorded in one go: the row is taken once, and their commits are one.
--
-- p_fills: [{"order", "before", "entry", "at", "lots", "price", "commission", "broker_order_id", "status",
--            "filled", "average", "layer", "ledger", "after"}], each what basso_record_fill (sql/013) takes.
-- Returns each fill's result in order ('ok <version>', 'done', 'moved'); a lost fence ends the list at its
-- 'fence <epoch>', and nothing has been written (every fill checks it first).
CREATE FUNCTION basso_record_fills(p_epoch bigint, p_fills jsonb) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb;
    result text;
    results text[] := '{}';
BEGIN
    FOR f IN SELECT * FROM jsonb_array_elements(p_fills) LOOP
        result := basso_record_fill(p_epoch, (f->>'order')::bigint, (f->>'before')::integer,
                                    (f->>'entry')::numeric, (f->>'at')::timestamptz, (f->>'lots')::integer,
                                    (f->>'price')::numeric, (f->>'commission')::numeric, f->>'broker_order_id',
                                    f->>'status', (f->>'filled')::integer, (f->>'average')::numeric,
                                    f->'layer', f->'ledger', f->'after');
        results := results || result;
        IF result LIKE 'fence %' THEN
            RETURN results;
        END IF;
    END LOOP;
    RETURN results;
END;
$$;
