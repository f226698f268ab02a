"""Where a suite process's wall time goes: start-up, preparation, timed rounds and the rest.

A run is only as precise as the time it spends inside timed rounds; the rest
(imports, building and proving every case, calibration, the peak GEMM,
the warm-up call of each block) is what several processes per run would
pay again each. The session opens a phase around each kind of work
(`with clock("prepare"):`); a phase inside another is counted once, in the
inner one. `record()` is what environment.json keeps under run.time_s, and
`line()` what the end of a run prints.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

# Printed and recorded in this order; "other" is whatever no phase covered (pytest between items, skips).
PHASES = ("startup", "reference", "prepare", "calibration", "peak", "timed", "block_overhead", "save", "other")
LABELS = dict(startup="start-up (imports, collection)", reference="references", prepare="build, parity, gates",
              calibration="calibration", peak="peak GEMM", timed="timed rounds",
              block_overhead="warm-up calls and loop", save="save", other="pytest between items")


class PhaseClock:
    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._stack: list[list] = []  # [name, started, seconds of inner phases]
        self._started = False

    def first_item(self, process_age) -> None:
        """The process's age (`process_age()`, None where unknown) when its first item starts: imports and
        collection. Read once."""
        if not self._started:
            self._started = True
            self.seconds["startup"] = process_age() or 0.0

    @contextmanager
    def __call__(self, name: str):
        entry = [name, time.perf_counter(), 0.0]
        self._stack.append(entry)
        try:
            yield
        finally:
            self._stack.pop()
            seconds = time.perf_counter() - entry[1]
            self.seconds[name] += seconds - entry[2]
            if self._stack:
                self._stack[-1][2] += seconds

    def timed(self, timed_s: float) -> None:
        """A block's timed rounds, moved out of the block_overhead phase that timed the whole block."""
        self.seconds["timed"] += timed_s
        self.seconds["block_overhead"] -= timed_s

    def record(self, total_s: float) -> dict:
        """Seconds per phase, "other" the remainder of `total_s`, and the timed share."""
        out = {name: round(self.seconds[name], 1) for name in PHASES if name != "other"}
        out["other"] = round(max(0.0, total_s - sum(self.seconds[n] for n in PHASES if n != "other")), 1)
        out["total"] = round(total_s, 1)
        out["timed_share"] = round(self.seconds["timed"] / total_s, 3) if total_s > 0 else None
        return out


def line(record: dict) -> str:
    """One line: the total, the timed share, then every phase over a second, largest first."""
    parts = sorted(((record[n], n) for n in PHASES if record.get(n, 0) >= 1), reverse=True)
    share = record.get("timed_share")
    head = f"time: {record['total']:.0f} s, {share:.0%} of it in timed rounds" if share is not None else \
        f"time: {record['total']:.0f} s"
    return head + "; " + ", ".join(f"{LABELS[n]} {s:.0f} s" for s, n in parts)
