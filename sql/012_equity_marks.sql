-- Equity over time (docs/rules.md §10): one row each time the book's facts change (controls.book_version moves on:
-- an outcome, a fill, a roll step, a capital move, the kill switch, a drawdown reset), written by a trigger at the
-- commit of that transaction, so every writer records it without knowing of it and a change that did not commit
-- leaves no mark. Closed equity is the ledger's sum; unrealised is Σ (mark − entry) × lots × point value over the
-- layers the book holds (a layer's own entry when its instrument has no mark yet), exact; blended equity is
-- derived when read (closed + [portfolio] blended_unrealised_weight × unrealised), so the configuration stays the
-- one source of that weight; the high water is the highest closed equity so far. A change that moves neither
-- (the kill switch, a stop trailed) adds no row.
CREATE TABLE equity_marks (
    id         bigserial     PRIMARY KEY,
    at         timestamptz   NOT NULL,  -- when the change committed (never before the previous row)
    version    bigint,                  -- the facts' version it was taken at; NULL: rebuilt from the ledger below
    closed     numeric(18,2) NOT NULL,
    unrealised numeric,                 -- NULL: not known (rows rebuilt from the ledger, before this table)
    high_water numeric(18,2) NOT NULL,
    drawdown   double precision NOT NULL,  -- (high water − closed) ÷ high water: what the chart thins by, kept cheap
    -- The newest ledger row `closed` includes: the next mark adds the rows after it, not the whole ledger again
    -- (ledger rows are written under the controls row's lock, so their ids follow the order they committed).
    ledger_id  bigint NOT NULL DEFAULT 0
);
CREATE INDEX equity_marks_at ON equity_marks (at);

-- The history before this table, from the ledger: closed equity after each outcome and each capital move (a
-- signal's rows land together, as the book sees them), its running high water, and no unrealised.
CREATE FUNCTION basso_drawdown(closed numeric, high_water numeric) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN high_water > 0 THEN ((high_water - closed) / high_water)::double precision ELSE 0 END
$$;

INSERT INTO equity_marks (at, closed, high_water, drawdown, ledger_id)
SELECT at, closed, high_water, basso_drawdown(closed, high_water), ledger_id
  FROM (SELECT first, at, closed, ledger_id, max(closed) OVER (ORDER BY first) AS high_water
          FROM (SELECT min(id) AS first, max(max(at)) OVER (ORDER BY min(id)) AS at,
                       sum(sum(amount)) OVER (ORDER BY min(id)) AS closed,
                       max(max(id)) OVER (ORDER BY min(id)) AS ledger_id
                  FROM ledger GROUP BY coalesce(signal, -id)) AS steps) AS marked
 ORDER BY first;

CREATE FUNCTION basso_mark_equity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last equity_marks%ROWTYPE;
    now_closed numeric;
    now_unrealised numeric;
    now_high numeric;
    added numeric;
    upto bigint;
BEGIN
    -- The transaction holds the controls row (it moved the version), so marks are written one at a time, in
    -- the order their changes committed.
    SELECT * INTO last FROM equity_marks ORDER BY id DESC LIMIT 1;
    SELECT coalesce(sum(amount), 0), max(id) INTO added, upto FROM ledger WHERE id > coalesce(last.ledger_id, 0);
    now_closed := coalesce(last.closed, 0) + added;
    upto := coalesce(upto, last.ledger_id, 0);
    SELECT coalesce(sum((coalesce(m.price, p.entry_price) - p.entry_price) * p.lots * p.point_value), 0)
      INTO now_unrealised
      FROM positions p LEFT JOIN instrument_marks m ON m.instrument = p.instrument
     WHERE p.status IN ('opening', 'partial', 'open');
    IF last.id IS NOT NULL AND last.closed = now_closed AND last.unrealised = now_unrealised THEN
        RETURN NULL;
    END IF;
    now_high := greatest(last.high_water, now_closed);
    INSERT INTO equity_marks (at, version, closed, unrealised, high_water, drawdown, ledger_id)
    VALUES (greatest(clock_timestamp(), last.at), (SELECT book_version FROM controls WHERE id = 1), now_closed,
            now_unrealised, now_high, basso_drawdown(now_closed, now_high), upto);
    RETURN NULL;
END;
$$;

-- Deferred: it runs as the transaction commits, once every row of the change is written.
CREATE CONSTRAINT TRIGGER book_changed_marks_equity AFTER UPDATE OF book_version ON controls
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.book_version IS DISTINCT FROM NEW.book_version)
    EXECUTE FUNCTION basso_mark_equity();
