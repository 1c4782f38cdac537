-- Rolls through a real broker (docs/rules.md §7, §8). With the paper broker a roll step fills its legs inside its
-- own transaction (sql/009). With OpenAlgo a step commits its orders `pending`, one per layer and side, tied to
-- the roll; the order desk works them like any other order, each fill booking its commission as the roll's cost
-- and leaving the layer as it is; when the last of them is done the roll's next step is stored, and it reads what
-- actually filled: the far legs are sized to what closed, and the layers shift by the spread between the fills.
ALTER TABLE orders ADD COLUMN roll bigint REFERENCES rolls;
CREATE INDEX orders_roll ON orders (roll) WHERE roll IS NOT NULL;
