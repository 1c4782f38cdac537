-- Every pending signal stored, by whichever instance and however (webhook, flatten, a manual INSERT), notifies
-- channel basso_signal_stored when its transaction commits: the leader LISTENs and decides it at once instead
-- of at its next sweep. The notification carries the signal's id (for people watching the channel); the
-- leader reads the inbox as always. Notifications are a wake-up, not a queue: one that is missed (the
-- listening connection dropped) is covered by the sweep.
CREATE FUNCTION basso_signal_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('basso_signal_stored', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER signal_stored AFTER INSERT ON signals
    FOR EACH ROW WHEN (NEW.outcome = 'pending') EXECUTE FUNCTION basso_signal_stored();
