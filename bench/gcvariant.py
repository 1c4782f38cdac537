"""Run `basso run` under another garbage-collector policy, for before/after comparisons (bench/webhook.py
--gc): `python bench/gcvariant.py {basso,cpython,off} run ...`.

* basso: the shipped policy (basso/gcpolicy.py), exactly as `python -m basso.cli run`;
* cpython: CPython's defaults (thresholds 700/10/10, nothing frozen): Basso before issue 15;
* off: no cyclic collector at all (reference counting only): the floor a policy can approach.
"""

from __future__ import annotations

import gc
import sys

import basso.gcpolicy


def _nothing() -> None:
    pass


if __name__ == "__main__":
    policy, argv = sys.argv[1], sys.argv[2:]
    if policy not in ("basso", "cpython", "off"):
        sys.exit(f"unknown policy {policy!r}: basso, cpython or off")
    if policy != "basso":
        # Patched before basso.server imports them by name.
        basso.gcpolicy.tune_collector = _nothing
        basso.gcpolicy.freeze_survivors = basso.gcpolicy.collect_and_freeze = _nothing
    if policy == "off":
        gc.disable()
    from basso.cli import main

    sys.exit(main(argv))
