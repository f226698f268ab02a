"""One pytest session of the suite: runs cases, keeps their rows, saves them at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import Case
from .harness import (
    CouldNotRun, ParityError, References, case_row, compiler_label, device_unavailable, measured_row,
    prepare, run_counted, use_full_float32,
)


def noise_floor_workload(n: int = 20_000) -> int:
    """About 1 ms of interpreter work touching no framework: what the machine's noise does to any case."""
    total = 0
    for i in range(n):
        total += i * i
    return total


class BenchSession:
    def __init__(self, profile: str, threads: int, keras_backend: str, results_dir: Path):
        self.profile, self.threads, self.keras_backend = profile, threads, keras_backend
        self.results_dir = Path(results_dir)
        self.references = References()
        self.rows: list[dict] = []
        self.raw_entries: list[dict] = []  # every round of every timed case (bench/raw.py)
        self._peaks: dict = {}
        self._threads_applied = False
        self._saved: str | None = None
        self.noise_floor: dict | None = None
        self.interrupted = False  # set on Ctrl-C (bench/conftest.py): such a session saves nothing

    def _start(self) -> None:
        if not self._threads_applied:  # first case: frameworks load now, with our threads
            from . import runtime

            runtime.apply_thread_limits(self.threads)
            self._threads_applied = True

    def peak(self, framework: str, device: str) -> float:
        """The median peak measured before this framework's first case (the end one comes in save)."""
        from .peak import peak_gflops

        key = (framework, device)
        if key not in self._peaks:
            self._peaks[key] = {"start": peak_gflops(framework, device)}
        return self._peaks[key]["start"]["median"]

    def run(self, benchmark, case: Case) -> None:
        self._start()
        reason = device_unavailable(case.framework, case.device)
        if reason:
            pytest.skip(reason)
        use_full_float32(case.device)
        row = case_row(case, self.profile, self.keras_backend, self.threads)
        try:
            prepared = prepare(case, self.references.get(case))
        except CouldNotRun as e:
            row.update(status=f"could not run: {e}")
            if not benchmark.disabled:
                self.rows.append(row)
            pytest.skip(f"{case.id} could not run: {e}")
        except ParityError as e:  # not the same model or step: recorded, never timed, and a failure
            row.update(status=f"not timed: {e}")
            if not benchmark.disabled:
                self.rows.append(row)
            raise
        benchmark.group = case.group
        run_counted(prepared, benchmark)
        benchmark.extra_info.update(
            max_abs_diff=prepared.max_abs_diff, first_call_s=prepared.first_call_s,
            kernel=prepared.kernel, compiler=compiler_label(prepared),
            compiles_per_call=prepared.compiles_per_call, graph_breaks=prepared.graph_breaks,
        )
        if benchmark.disabled or benchmark.stats is None:
            return  # --benchmark-disable: the case ran once, nothing was timed
        peak = self.peak(case.framework, case.device)
        self.rows.append(measured_row(row, case, prepared, benchmark.stats.stats, peak))
        from .raw import entry

        self.raw_entries.append(
            entry(case.id, case.group, row, dict(benchmark.extra_info), benchmark.stats.as_dict(include_data=True)["stats"])
        )

    def record_noise_floor(self, benchmark) -> None:
        if not benchmark.disabled and benchmark.stats is not None:
            stats = benchmark.stats.stats
            self.noise_floor = dict(median_s=stats.median, spread=stats.iqr / stats.median, rounds=stats.rounds)

    def save(self) -> None:
        if not self.rows:
            return
        from .environment import collect
        from .results import save_run

        from . import raw
        from .peak import peak_gflops, summarise

        for (framework, device), peaks in self._peaks.items():  # again at the end: did the machine change?
            peaks["end"] = peak_gflops(framework, device)
        environment = collect(self.threads, self.keras_backend)
        environment["noise_floor"] = self.noise_floor
        environment["peak_gflops"] = {f"{f} {d}": summarise(p) for (f, d), p in self._peaks.items()}
        import pytest_benchmark

        raw.save(self.results_dir, self.raw_entries, environment, pytest_benchmark.__version__, environment["date"])
        save_run(self.results_dir, self.rows, environment)
        self._saved = f"merged {len(self.rows)} rows into {self.results_dir}/ (benchmarks.csv, comparison.csv, environment.json, raw/)"

    def summary(self) -> str | None:
        return self._saved
