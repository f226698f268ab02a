"""How fast a run's cases ran against the previous run of the same slice in its set: the host's state.

On shared VMs a whole run can meet a slower host: every case 1.2-1.8x slower
for minutes, and the two frameworks not slowed alike, so ratios move with it
while the run's own blocks (all in that state) cannot tell. The median over
the cases both runs timed of new median / old median says which state a run
met; a run far from its predecessor is said at its end and recorded in
environment.json (run.level_vs_previous).
"""

from __future__ import annotations

import math
import statistics

from ..store.schema import case_key, is_timed

# Beyond this factor either way, the end of a run says the host was in another state.
LEVEL_WARNING = 1.15


def level_vs_previous(new_rows: list[dict], old_rows: list[dict]) -> dict | None:
    """{"cases": n, "level": median new/old time} over the cases timed in both, or None."""
    old = {case_key(r): float(r["median_s"]) for r in old_rows if is_timed(r)}
    logs = [math.log(float(r["median_s"]) / old[case_key(r)]) for r in new_rows
            if is_timed(r) and case_key(r) in old]
    if not logs:
        return None
    return {"cases": len(logs), "level": math.exp(statistics.median(logs))}


def line(level: dict | None) -> str:
    if level is None:
        return ""
    text = f"case times: {level['level']:.2f}x the previous run of this slice in this set (median over {level['cases']} cases)"
    if not 1 / LEVEL_WARNING <= level["level"] <= LEVEL_WARNING:
        text += ("; the host was not in the state it was then, and ratios can move with it: rerun, or compare "
                 "with `python -m bench compare` (docs/methods.md, \"How a run measures\")")
    return text
