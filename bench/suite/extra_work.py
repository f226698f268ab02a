"""--extra-work FRAMEWORK=FRACTION: real extra computation inside one framework's timed calls.

What `bench compare` detects is measured by timing a known slowdown, not by
multiplying recorded rounds (that only adds a constant to every log time and
leaves the noise as it was, so it is caught whatever the noise). Here each
timed call of FRAMEWORK's cases runs its step and then a pure-Python loop
sized at preparation to FRACTION of the case's calibrated call time: extra
work that meets the machine's noise like the step does. The loop's size is
recorded (raw/ extra_info extra_work_s), and a run with extra work must name
its own --results-dir: it is an experiment, never a machine's result set.
"""

from __future__ import annotations

import time

FRAMEWORKS = ("keras", "torch", "onnxruntime")


def parse(text: str) -> tuple[str, float]:
    """"torch=0.1" -> ("torch", 0.1); ValueError naming the option otherwise."""
    framework, _, fraction = str(text).partition("=")
    try:
        value = float(fraction)
    except ValueError:
        value = float("nan")
    if framework not in FRAMEWORKS or not 0 < value <= 1:
        raise ValueError(f"--extra-work takes FRAMEWORK=FRACTION with FRAMEWORK one of {', '.join(FRAMEWORKS)} and "
                         f"FRACTION above 0 and at most 1 (0.1 for 10% more work), got {text!r}")
    return framework, value


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def spin_of(seconds: float, probe: int = 2000) -> int:
    """Loop iterations that take about `seconds` here: the fastest of five probes (the loop's own cost,
    without a preemption that one probe may meet), scaled."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        _spin(probe)
        times.append(time.perf_counter() - start)
    per_iteration = min(times) / probe
    return max(1, round(seconds / per_iteration))


def with_extra_work(fn, seconds: float):
    """`fn` followed, in the same call, by a loop of about `seconds`."""
    n = spin_of(seconds)

    def slowed():
        result = fn()
        _spin(n)
        return result

    return slowed
