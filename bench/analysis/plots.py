"""The report's figures, drawn with matplotlib's object API: Figure renders PNGs through Agg, no pyplot state.

Each function draws one figure from the rows it is given and saves it to `path`.
Times are plotted in milliseconds; an axis turns logarithmic where its data
spans a decade or more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from ..store.dataframes import variant_label
from ..store.schema import MODES
from .scaling import sweep_points
from ..store.units import mib, ms

TIME_LABEL = "median time per call (ms)"
DPI = 110
MARKERS = "osD^v<>p"  # open, one shape per variant: lines that coincide stay visible


def _labelled(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The rows with a `variant` label; the modes they hold, in MODES order; their variants, in row order."""
    rows = rows.assign(variant=[variant_label(r) for _, r in rows.iterrows()])
    return rows, [m for m in MODES if m in set(rows["mode"])], list(dict.fromkeys(rows["variant"]))


def _log_scale(ax, axis: str = "y") -> None:
    """Logarithmic, labelled 0.3, 1, 10 rather than 3x10^-1."""
    ax.set(**{f"{axis}scale": "log"})
    ticks = ax.yaxis if axis == "y" else ax.xaxis
    ticks.set_major_formatter(ticker.LogFormatter())
    ticks.set_minor_formatter(ticker.LogFormatter())


def _log_if_spans_decades(ax, values, axis: str = "y") -> None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if len(values) and values.max() / values.min() >= 10:
        _log_scale(ax, axis)


def _ticks_at(ax, values) -> None:
    """x ticks at the measured sizes (log scale where they span a decade or more)."""
    values = sorted(set(values))
    _log_if_spans_decades(ax, values, axis="x")
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(ticker.NullLocator())


def _line(ax, xs, ys, i: int, label: str) -> None:
    ax.plot(xs, ys, "-", marker=MARKERS[i % len(MARKERS)], markerfacecolor="none", color=f"C{i}", label=label)


def _finish(fig: Figure, axes, title: str, path: Path) -> None:
    """Title, one legend below the panels (each label once), save."""
    legend = {}
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    fig.suptitle(title)
    fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=min(len(legend), 3), fontsize="small")
    fig.savefig(path, dpi=DPI)


def time_bars(rows: pd.DataFrame, title: str, path: Path) -> None:
    """A panel per mode; at each size one bar per variant: the median, error bars the IQR centred on it."""
    rows, modes, variants = _labelled(rows)
    sizes = rows.drop_duplicates("size").set_index("size")
    width = 0.8 / len(variants)
    fig = Figure(figsize=(5 * len(modes), 5), layout="constrained")
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    for ax, mode in zip(axes, modes):
        of_mode = rows[rows["mode"] == mode]
        for i, variant in enumerate(variants):
            bars = of_mode[of_mode["variant"] == variant].set_index("size").reindex(sizes.index)
            offset = (i - (len(variants) - 1) / 2) * width
            ax.bar(
                np.arange(len(sizes)) + offset, ms(bars["median_s"]), width,
                yerr=ms(bars["iqr_s"]) / 2, capsize=2, color=f"C{i}", label=variant,
            )
        ticks = [f"{s}\nbatch {r.batch:g}, timesteps {r.timesteps:g}, units {r.units:g}" for s, r in sizes.iterrows()]
        ax.set_xticks(range(len(sizes)), ticks, fontsize="small")
        ax.set(title=mode, ylabel=TIME_LABEL)
        _log_if_spans_decades(ax, of_mode["median_s"])
    _finish(fig, axes, title, path)


def td_tax_lines(rows: pd.DataFrame, title: str, path: Path) -> None:
    """The tax against timesteps: a row of panels per (topology, Keras backend, device), a column per mode."""
    rows, modes, variants = _labelled(rows)
    runs = list(rows.groupby(["topology", "keras_backend", "device"], sort=False))
    fig = Figure(figsize=(5 * len(modes), 3.5 * len(runs) + 1), layout="constrained")
    axes = fig.subplots(len(runs), len(modes), squeeze=False)
    for panels, ((topology, keras_backend, device), run) in zip(axes, runs):
        for ax, mode in zip(panels, modes):
            for i, variant in enumerate(variants):
                line = run[(run["mode"] == mode) & (run["variant"] == variant)].sort_values("timesteps")
                _line(ax, line["timesteps"], line["tax"], i, variant)
            ax.set(title=f"{topology} {mode}, {device} (Keras on {keras_backend})", xlabel="timesteps",
                   ylabel="tax: looped / fused time (x)")
            _ticks_at(ax, run["timesteps"])
            _log_if_spans_decades(ax, run["tax"])
    _finish(fig, axes.flat, title, path)


def _sweep_grid(rows: pd.DataFrame, variables: list[str], title: str, path: Path, what: str, ylabel: str,
                value, y_scale) -> None:
    """`value(points)` against each swept size (the others at mid): a row per mode, a column per variable."""
    rows, modes, variants = _labelled(rows)
    fig = Figure(figsize=(4.5 * len(variables), 3.5 * len(modes) + 1), layout="constrained")
    axes = fig.subplots(len(modes), len(variables), squeeze=False)
    for panels, mode in zip(axes, modes):
        for ax, variable in zip(panels, variables):
            points = sweep_points(rows[rows["mode"] == mode], variable)
            for i, variant in enumerate(variants):
                line = points[points["variant"] == variant]
                _line(ax, line[variable], value(line), i, variant)
            ax.set(title=f"{mode}: {what} against {variable}", xlabel=variable, ylabel=ylabel)
            _ticks_at(ax, points[variable])  # each sweep spans 16x or more: log
            y_scale(ax, points)
    _finish(fig, axes.flat, title, path)


def scaling_lines(rows: pd.DataFrame, variables: list[str], title: str, path: Path) -> None:
    """Log-log time against each swept size."""
    _sweep_grid(rows, variables, title, path, "time", TIME_LABEL,
                lambda line: ms(line["median_s"]), lambda ax, points: _log_scale(ax, "y"))


def memory_lines(rows: pd.DataFrame, variables: list[str], title: str, path: Path) -> None:
    """Peak memory of one call against each swept size."""
    _sweep_grid(rows, variables, title, path, "peak memory", "peak memory of one call (MiB)",
                lambda line: mib(line["peak_mem_bytes"]),
                lambda ax, points: _log_if_spans_decades(ax, points["peak_mem_bytes"]))


# A column whose ratios sit this many times above the rest gets a panel of its own (Keras on JAX without
# jax.jit recompiles every call, hundreds of times torch): one shared axis would press the others against 1.
FAR_COLUMN_GAP = 10.0


def far_columns(rows: pd.DataFrame, columns: list[str]) -> list[str]:
    """The columns above the widest gap between the columns' median ratios, if that gap is FAR_COLUMN_GAP or more."""
    medians = {c: float(rows.loc[rows["column"] == c, "keras_over_torch"].astype(float).median()) for c in columns}
    ordered = sorted((m, c) for c, m in medians.items() if np.isfinite(m) and m > 0)
    gaps = [(ordered[i + 1][0] / ordered[i][0], i) for i in range(len(ordered) - 1)]
    if not gaps or max(gaps)[0] < FAR_COLUMN_GAP:
        return []
    cut = max(gaps)[1]
    far = {c for _, c in ordered[cut + 1:]}
    return [c for c in columns if c in far]


def _ratio_panel(ax, rows: pd.DataFrame, columns: list[str], modes: list[str], legend: bool) -> None:
    ax.axhline(1, color="grey", linewidth=0.8, linestyle="--")
    for i, mode in enumerate(modes):
        of_mode = rows[rows["mode"] == mode]
        for x, column in enumerate(columns):
            points = of_mode[of_mode["column"] == column]
            # spread the cases of a column sideways, train left of infer, so their bars stay apart
            xs = x + (i - (len(modes) - 1) / 2) * 0.3 + np.linspace(-0.1, 0.1, len(points)) if len(points) else []
            ratio = points["keras_over_torch"].astype(float)
            low, high = pd.to_numeric(points["ci_low"]), pd.to_numeric(points["ci_high"])
            bars = np.array([(ratio - low).fillna(0), (high - ratio).fillna(0)])
            ax.errorbar(xs, ratio, yerr=bars, fmt=MARKERS[i], markerfacecolor="none", color=f"C{i}", elinewidth=0.8,
                        markersize=4, label=mode if x == 0 and legend else None)
    ax.set_xticks(range(len(columns)), [c.replace(", ", "\n", 1) for c in columns], fontsize="small")
    ax.set_xlim(-0.5, len(columns) - 0.5)
    _log_scale(ax, "y")


def ratio_intervals(rows: pd.DataFrame, columns: list[str], title: str, path: Path) -> None:
    """Keras over torch per case: a column of points per slice, a colour per mode, 95% confidence intervals as bars.

    Columns far above the rest (far_columns) go to a panel of their own on the right, with its own scale.
    """
    modes = [m for m in MODES if m in set(rows["mode"])]
    far = far_columns(rows, columns)
    near = [c for c in columns if c not in far]
    panels = [p for p in (near, far) if p]
    fig = Figure(figsize=(1.6 * len(columns) + 2 + 0.8 * (len(panels) - 1), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, width_ratios=[len(p) for p in panels])[0]
    for ax, panel in zip(axes, panels):
        _ratio_panel(ax, rows, panel, modes, legend=panel is panels[0])
    axes[0].set(ylabel="Keras time / torch time (x); 1 = same speed")
    if far:
        axes[-1].set_title("own scale: far above the rest", fontsize="small")
    _finish(fig, list(axes), title, path)


def compile_first_calls(rows: pd.DataFrame, title: str, path: Path) -> None:
    """Per case, the first call with compile on against compile off (ms, log-log), a colour per framework and
    backend; above the diagonal, compiling made the first call slower."""
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    groups = list(dict.fromkeys(zip(rows["framework"], rows["keras_backend"])))
    for i, (framework, backend) in enumerate(groups):
        of_group = rows[(rows["framework"] == framework) & (rows["keras_backend"] == backend)]
        ax.scatter(ms(of_group["first_off_s"].astype(float)), ms(of_group["first_on_s"].astype(float)),
                   marker=MARKERS[i % len(MARKERS)], facecolors="none", edgecolors=f"C{i}",
                   label=f"{framework} (Keras on {backend} run)")
    values = ms(pd.concat([rows["first_off_s"], rows["first_on_s"]]).astype(float))
    low, high = values.min() / 2, values.max() * 2
    ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
    ax.set(xlabel="first call, compile off (ms)", ylabel="first call, compile on (ms)", xlim=(low, high), ylim=(low, high))
    _log_scale(ax, "x")
    _log_scale(ax, "y")
    _finish(fig, [ax], title, path)
