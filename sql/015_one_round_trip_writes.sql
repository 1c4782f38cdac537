-- Writes made often, each in one round trip.
--
-- A batch of decisions (basso/store/outcomes.py commit_decisions): signals pending in a row, each decided against
-- the book the one before leaves (basso/actors/deciding.py), committed all or none.
-- p_steps: [{"version", "signal", "outcome", "reason", "decision", "changes"}], in order, each what
-- basso_commit_decision takes for one signal.
-- Returns 'ok', or '<n> <status>' for the first step (counted from 0) that basso_commit_decision did not commit
-- ('fence …', 'processed', 'stale …'): then nothing of the batch is written.
CREATE FUNCTION basso_commit_decisions(p_epoch bigint, p_at timestamptz, p_broker text, p_steps jsonb)
    RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    step jsonb;
    n integer := 0;
    result text := 'ok';
BEGIN
    BEGIN
        FOR step IN SELECT * FROM jsonb_array_elements(p_steps) LOOP
            result := basso_commit_decision(p_epoch, (step->>'version')::bigint, (step->>'signal')::bigint,
                                            step->>'outcome', step->>'reason', step->'decision', p_at, p_broker,
                                            step->'changes');
            IF result <> 'ok' THEN
                -- Undoes the steps before it: this block is a subtransaction.
                RAISE EXCEPTION USING ERRCODE = 'BS001', MESSAGE = 'basso: batch not committed';
            END IF;
            n := n + 1;
        END LOOP;
    EXCEPTION WHEN SQLSTATE 'BS001' THEN
        RETURN n || ' ' || result;  -- variables keep their values; the block's writes are gone
    END;
    RETURN 'ok';
END
$$;

-- An order's placement recorded (basso/store/orders.py record_placement): `sent` before the request leaves, then
-- the broker's order id, or `unknown`. Twice for every order sent: one round trip each, fenced like every write.
-- With p_unless_closing (an entry's first `sent`), nothing is written if its layer is already closing: the exit
-- came first, and the entry is withdrawn unsent. The check and the write are one step: no exit can be committed
-- between them.
-- Returns 'ok', 'done' (the order will fill no more: nothing written), 'closing' or 'fence <stored epoch>'.
CREATE FUNCTION basso_record_placement(p_epoch bigint, p_client_id text, p_status text, p_broker_order_id text,
                                       p_reason text, p_checks integer, p_at timestamptz, p_working text[],
                                       p_unless_closing boolean)
    RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    stored_epoch bigint;
    layer_status text;
BEGIN
    SELECT epoch INTO stored_epoch FROM leader_fence WHERE id = 1 FOR SHARE;
    IF stored_epoch <> p_epoch THEN
        RETURN 'fence ' || stored_epoch;
    END IF;
    IF p_unless_closing THEN
        -- The share lock holds off an exit's commit (it updates this row) until this one is done: the exit then
        -- finds the entry sent, and its chase withdraws what has not filled.
        SELECT p.status INTO layer_status FROM orders o JOIN positions p ON p.id = o.position
         WHERE o.client_id = p_client_id FOR SHARE OF p;
        IF layer_status = 'closing' THEN
            RETURN 'closing';
        END IF;
    END IF;
    UPDATE orders SET status = p_status, broker_order_id = coalesce(p_broker_order_id, broker_order_id),
                      reason = p_reason, checks = checks + p_checks, updated_at = p_at, epoch = p_epoch
     WHERE client_id = p_client_id AND status = ANY(p_working);
    RETURN CASE WHEN FOUND THEN 'ok' ELSE 'done' END;
END
$$;
