-- Notifications (docs/rules.md §10): every fill and every alert becomes one row of this outbox in the same transaction
-- that commits it (the triggers below), so a decision that did not commit notifies nobody and a committed
-- one is never forgotten. The leader's notifier sends each row through apprise: it claims the row under the
-- fence (state 'sending', attempts + 1) before sending, marks it 'sent' after, and puts it back to 'pending'
-- with a later `next_attempt_at` when the service failed. A row found 'sending' at startup was cut off mid-send:
-- it becomes 'unknown' and is never sent again, so no message goes out twice. What a row says (instrument,
-- layer, lots, price, P&L, equity) is read from the facts it names when it is sent.
CREATE TABLE notification_states (name text PRIMARY KEY);  -- filled from basso/enums.py by basso migrate

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    source          text        NOT NULL CHECK (source IN ('order', 'alert')),
    source_id       bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    state           text        NOT NULL DEFAULT 'pending' REFERENCES notification_states,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,                -- NULL: due now; after a failed attempt, when to try again
    sent_at         timestamptz,
    last_error      text,
    UNIQUE (source, source_id)
);
CREATE INDEX notifications_pending ON notifications (id) WHERE state = 'pending';

CREATE FUNCTION basso_notify_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'filled' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'filled') THEN
        INSERT INTO notifications (source, source_id) VALUES ('order', NEW.id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER order_filled_notifies AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION basso_notify_fill();

CREATE FUNCTION basso_notify_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications (source, source_id) VALUES ('alert', NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER alert_raised_notifies AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION basso_notify_alert();

-- The dashboard's "last bar close" per instrument, found without reading every stored signal.
CREATE INDEX signals_bar_closes ON signals (instrument, signal_time) WHERE kind = 'MARKET_DATA' AND outcome = 'executed';

-- The dashboard's working and unknown orders, found without reading every filled one.
CREATE INDEX orders_not_final ON orders (id) WHERE status IN ('pending', 'sent', 'unknown');
