"""Live broker adapters (docs/rules.md §8): each speaks one gateway's API and answers in Basso's terms (fills,
positions).

Kept apart from the paper broker because a live broker can fail, hang or answer late, and every adapter has to
resolve such an order by asking the broker rather than by sending it again.
"""
