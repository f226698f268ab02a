"""A cluster run on paper: Ray's overhead per task, and the wall time on N nodes, from measured task times.

The input is a task log, bench/cluster/driver.py's logs/cluster-tasks.csv (one
row per task: node, submitted, start, end, arrived, pytest_s, outcome; times
in seconds since the epoch, start and end on the node's clock).

Overhead: a task's time on its node that is not its pytest process: the wait
between the node becoming free (or the task being submitted) and the task
starting, and the task's own work around pytest (finding the node's checkout,
a temporary directory, reading the files back). The result's trip to the
driver and the driver's merge are counted apart (merge_seconds): the node
runs its next task meanwhile.

Projection: n tasks of durations d_i on N one-slot nodes, assigned as Ray
assigns them (each queued task to the next free slot: greedy list
scheduling). No schedule beats max(sum d / N, max d), the longest task being
the floor; greedy never exceeds sum d / N + (1 - 1/N) max d (Graham, 1966).
"""

from __future__ import annotations

import statistics

NODE_COUNTS = (1, 4, 16, 64)


def _finished(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("outcome") == "ok" and r.get("start") not in (None, "")]


def durations(rows: list[dict]) -> list[float]:
    """Seconds each finished task held its node's slot (end - start)."""
    return [float(r["end"]) - float(r["start"]) for r in _finished(rows)]


def overheads(rows: list[dict]) -> list[float]:
    """Ray's seconds per finished task on its node (module docstring), task log order: the wait between the
    slot freeing (or the task's submission) and the task starting, and the task's time outside pytest."""
    out, free_at = [], {}  # node -> when its previous task of the same run ended
    for r in sorted(_finished(rows), key=lambda r: float(r["start"])):
        start, end = float(r["start"]), float(r["end"])
        ready = max(float(r["submitted"]), free_at.get((r["run_started"], r["node_id"]), 0.0))
        free_at[(r["run_started"], r["node_id"])] = end
        out.append((start - ready) + (end - start - float(r["pytest_s"])))
    return out


def merge_seconds(rows: list[dict]) -> list[float]:
    """Per finished task, from its end on the node to its row in the task log: the result's trip back and the
    driver's merge into the machine directory. The node has started its next task meanwhile, so this adds
    to a run's wall time only after its last task."""
    return [float(r["arrived"]) - float(r["end"]) for r in _finished(rows)]


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


def run_summaries(rows: list[dict]) -> list[dict]:
    """One summary per cluster run of the task log (its run_started), oldest first.

    wall_s runs from the first task's submission to the last result's arrival on the driver: the run's
    time less connecting and probing the nodes.
    """
    out = []
    for started in sorted({r["run_started"] for r in rows}):
        of_run = [r for r in rows if r["run_started"] == started]
        finished = _finished(of_run)
        task_s = durations(of_run)
        out.append({
            "run_started": started, "tasks": len(of_run), "finished": len(finished),
            "nodes": len({r["node_id"] for r in finished}),
            "wall_s": max(float(r["arrived"]) for r in of_run) - min(float(r["submitted"]) for r in of_run),
            "task_s": sum(task_s), "longest_s": max(task_s, default=float("nan")),
            "overhead_s": statistics.median(overheads(of_run)) if finished else float("nan"),
            "merge_s": statistics.median(merge_seconds(of_run)) if finished else float("nan"),
        })
    return out


def _compile_of(unit_label: str) -> str:
    """A unit's compile setting from its label (bench/cluster/units.py Unit.label: "GROUP jit [BACKEND tN]" when on)."""
    return "on" if " jit [" in unit_label else "off"


def slice_times(rows: list[dict]) -> list[dict]:
    """Per Keras backend, compile setting and threads: finished tasks, their summed and longest slot time."""
    out: dict[tuple, list[float]] = {}
    for r in _finished(rows):
        key = (r["keras_backend"], _compile_of(r["unit"]), r["threads"])
        out.setdefault(key, []).append(float(r["end"]) - float(r["start"]))
    return [{"keras_backend": b, "compile": c, "threads": t, "tasks": len(d), "task_s": sum(d), "longest_s": max(d)}
            for (b, c, t), d in out.items()]


def report_lines(rows: list[dict]) -> list[str]:
    """The report's section on cluster runs: each run of the task log, then the newest code's units (the newest
    task of each, whichever run finished it) slice by slice and projected on more nodes."""
    lines = ["## On a Ray cluster", ""]
    runs = [r for r in run_summaries(rows) if r["finished"]]
    if not runs:
        return lines + ["No cluster run finished a task into this directory (`python -m bench run --cluster`)."]
    lines += ["Each `bench run --cluster` into this directory, from its task log: wall time from the first "
              "submission to the last result's arrival; task time is what the tasks held their nodes' slots; "
              "Ray's overhead is a task's wait for its node's free slot and its time outside its pytest process; "
              "the result's trip back and its merge overlap the node's next task (docs/commands.md, \"On a Ray cluster\").", "",
              "| run started | nodes | tasks finished | wall time | task time | longest task | Ray overhead per task, median "
              "| back and merged, median |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        lines.append(f"| {r['run_started']} | {r['nodes']} | {r['finished']} of {r['tasks']} | {r['wall_s']:.0f} s | "
                     f"{r['task_s']:.0f} s | {r['longest_s']:.0f} s | {r['overhead_s']:.2f} s | {r['merge_s']:.2f} s |")
    code = rows[-1]["code"]  # the newest run's code: its units, whichever run finished each (a resumed sweep)
    latest = {r["unit"]: r for r in _finished(rows) if r["code"] == code}
    units = list(latest.values())
    task_s = durations(units)
    lines += ["", f"Every unit code {code} finished here ({len(units)}, the newest task of each, from "
              f"{len({r['run_started'] for r in units})} run(s)), slice by slice: on one node, a slice's wall time "
              "is its task time plus Ray's overhead.", "",
              "| Keras on | compile | threads | tasks | task time | longest task |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['keras_backend']} | {r['compile']} | {r['threads']} | {r['tasks']} | {r['task_s']:.0f} s | "
              f"{r['longest_s']:.0f} s |" for r in slice_times(units)]
    lines += ["", f"The same {len(units)} units on more nodes of this kind, on paper: no schedule beats total / nodes "
              "or the longest task, and Ray's greedy assignment stays under total / nodes + the longest task "
              "(bench/analysis/cluster_plan.py).", "", format_plan(plan_rows(task_s))]
    return lines
