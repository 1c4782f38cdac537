-- A leader that crashed (or was cut off and never came back) records no end of its term. The next leader
-- records it as 'superseded' when it takes the fence, so every term in leadership_history has an end row.
ALTER TABLE leadership_history DROP CONSTRAINT leadership_history_event_check;
ALTER TABLE leadership_history ADD CONSTRAINT leadership_history_event_check
    CHECK (event IN ('gained', 'lost', 'released', 'superseded'));
