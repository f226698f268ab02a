"""A cluster run on paper: Ray's overhead per task, and the wall time on N nodes, from measured task times.

The input is a task log, bench/cluster/driver.py's logs/cluster-tasks.csv (one
row per task: node, submitted, start, end, arrived, pytest_s, outcome; times
in seconds since the epoch, start and end on the node's clock).

Overhead: a task's time that is not its pytest process: the wait between the
node becoming free (or the task being submitted) and the task starting, the
task's own work around pytest (temporary directory, reading the files back),
and the result's trip to the driver.

Projection: n tasks of durations d_i on N one-slot nodes, assigned as Ray
assigns them (each queued task to the next free slot: greedy list
scheduling). No schedule beats max(sum d / N, max d), the longest task being
the floor; greedy never exceeds sum d / N + (1 - 1/N) max d (Graham, 1966).
"""

from __future__ import annotations

NODE_COUNTS = (1, 4, 16, 64)


def _finished(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("outcome") == "ok" and r.get("start") not in (None, "")]


def durations(rows: list[dict]) -> list[float]:
    """Seconds each finished task held its node's slot (end - start)."""
    return [float(r["end"]) - float(r["start"]) for r in _finished(rows)]


def overheads(rows: list[dict]) -> list[float]:
    """Ray's seconds per finished task outside its pytest process (module docstring), task log order."""
    out, free_at = [], {}  # node -> when its previous task of the same run ended
    for r in sorted(_finished(rows), key=lambda r: float(r["start"])):
        start, end = float(r["start"]), float(r["end"])
        ready = max(float(r["submitted"]), free_at.get((r["run_started"], r["node_id"]), 0.0))
        free_at[(r["run_started"], r["node_id"])] = end
        out.append((start - ready) + (end - start - float(r["pytest_s"])) + (float(r["arrived"]) - end))
    return out


def projected_wall(task_seconds: list[float], nodes: int) -> tuple[float, float]:
    """(lower bound, greedy upper bound) of the wall time of `task_seconds` on `nodes` one-slot nodes."""
    total, longest = sum(task_seconds), max(task_seconds)
    return max(total / nodes, longest), total / nodes + (1 - 1 / nodes) * longest


def plan_rows(task_seconds: list[float], node_counts=NODE_COUNTS) -> list[dict]:
    rows = []
    for n in node_counts:
        low, high = projected_wall(task_seconds, n)
        rows.append({"nodes": n, "tasks": len(task_seconds), "lower_s": low, "upper_s": high,
                     "floor_is_longest_task": low == max(task_seconds)})
    return rows


def format_plan(rows: list[dict]) -> str:
    """The projection as a Markdown table (for the report)."""
    lines = ["| nodes | tasks | wall time, at least | greedy, at most | bound by |", "|---:|---:|---:|---:|---|"]
    for r in rows:
        bound = "the longest task" if r["floor_is_longest_task"] else "total / nodes"
        lines.append(f"| {r['nodes']} | {r['tasks']} | {r['lower_s']:.0f} s | {r['upper_s']:.0f} s | {bound} |")
    return "\n".join(lines)
