"""The units of work on a cluster: one problem of one slice, and the pytest `-k` that selects exactly it.

A problem is what bench/conftest.py block_order keeps together: the cases of one
pytest-benchmark group with one compile setting (every framework and head of
one topology, mode, device and size). Its Keras and torch blocks alternate in
one process, so a problem is never split: one unit, one `pytest bench/` on one
node. A unit also fixes the slice's Keras backend and thread count (each is
one per process).

With `--processes N` a problem is N units, one per process (`process` 1 .. N,
labelled "p1/2"), each the whole problem, both arms and every head, in one
`pytest bench/`: N tasks, on nodes of one machine kind, combined by the driver
as a local `bench run --processes N` combines its processes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..suite.cases import Case, all_cases


@dataclass(frozen=True)
class Unit:
    keras_backend: str
    threads: int
    profile: str
    compile: str  # "off" or "on": the problem's own setting
    group: str  # the pytest-benchmark group (bench/suite/cases.py Case.group)
    device: str
    cases: tuple[Case, ...]
    processes: int = 1  # the processes the problem is timed in (`--processes`)
    process: int = 0  # this unit's process, 1 .. processes; 0: the problem itself (all its processes)
    budget_share: float = 1.0  # its part of a run's budget for extension blocks (budget_shares; pytest --budget-share)

    @property
    def case_ids(self) -> tuple[str, ...]:
        return tuple(case.id for case in self.cases)

    @property
    def label(self) -> str:
        jit = " jit" if self.compile == "on" else ""
        one = f" p{self.process}/{self.processes}" if self.process else ""
        return f"{self.group}{jit} [{self.keras_backend} t{self.threads}]{one}"

    @property
    def problem(self) -> "Unit":
        """The problem this unit times a process of (itself when it is the problem)."""
        return replace(self, process=0)

    def in_processes(self) -> list["Unit"]:
        """The problem's units: itself with one process, else one per process."""
        if self.processes == 1:
            return [self]
        return [replace(self, process=i) for i in range(1, self.processes + 1)]

    def k_expression(self) -> str:
        """Every item of the problem's cases and nothing else.

        An item's name is test_case[CASE_ID-prepare], [CASE_ID-blockN] or, with one block,
        [CASE_ID]; matching "[CASE_ID-" and "[CASE_ID]" keeps timesteps10 from matching timesteps100.
        """
        return " or ".join(f"[{case_id}- or [{case_id}]" for case_id in self.case_ids)


def split_k(pytest_args: list[str]) -> tuple[str | None, list[str]]:
    """(the -k expression in `pytest_args`, the other arguments): a unit brings its own -k."""
    expression, rest, args = None, [], iter(pytest_args)
    for arg in args:
        if arg == "-k":
            expression = next(args, "")
        elif arg.startswith("-k"):
            expression = arg[2:].lstrip("=")
        else:
            rest.append(arg)
    return expression, rest


def selects(expression: str | None, case: Case) -> bool:
    """Whether pytest's -k `expression` keeps `case` (matched, as pytest does, as substrings of its item's names)."""
    if not expression:
        return True
    from _pytest.mark.expression import Expression  # pytest's own -k grammar

    names = (f"test_case[{case.id}]".lower(), "test_benchmarks.py", "bench")
    return Expression.compile(expression).evaluate(lambda word: any(word.lower() in name for name in names))


def problems(profile: str, compile: str, expression: str | None = None, gpu: bool = False) -> list[list[Case]]:
    """The cases of every problem of the profile, in the registry's order; cuda problems only where `gpu`."""
    out: dict[tuple, list[Case]] = {}
    for case in all_cases(profile, compile):
        if (case.device == "cpu" or gpu) and selects(expression, case):
            out.setdefault((case.group, case.compile), []).append(case)
    return list(out.values())


def budget_shares(problems_of_run: list[list[Case]]) -> list[float]:
    """Each problem's share of a run's budget (pytest --budget-share; bench/suite/session.py shared_budget_s):
    its part of the run's cases.

    A local run is one `pytest bench/` per Keras backend and thread count, with one budget for every problem it
    times (--time-budget, else options.DEFAULT_RUN_BUDGET_S from the process's start), which its extension blocks (--precision) may
    spend. A task times one problem in a process of its own; with the whole budget, every noisy problem would
    extend as far as EXTENSION allows (measured: the 20 problems of a 265 s local run took 857 s as tasks).
    Its share is by cases, not one per problem: every case is timed for the same --benchmark-max-time over
    its blocks, and an extension block costs a problem in proportion to its cases, so a share by cases lets
    every problem extend by the same part of its time. `problems_of_run` is what the local run would time
    (the profile, the compile setting, the -k), --resume's held problems included: a resumed run is the same run.

    With --processes N the share is the same for each of a problem's N tasks: a local `run --processes N`
    times the slice in N processes, each with the whole budget from its own start, so each process of a
    problem is that problem's share of one process's run.
    """
    total = sum(len(cases) for cases in problems_of_run)
    return [len(cases) / total for cases in problems_of_run]


def units(profile: str, compile: str, keras_backends: list[str], thread_counts: list[int],
          expression: str | None = None, gpu: bool = False, processes: int = 1) -> list[Unit]:
    """Every problem (its processes not yet split: `Unit.in_processes`), each with its share of its slice's run."""
    of_run = problems(profile, compile, expression, gpu)  # the same for every backend and thread count
    return [
        Unit(backend, threads, profile, cases[0].compile, cases[0].group, cases[0].device, tuple(cases), processes,
             budget_share=share)
        for backend in keras_backends
        for threads in thread_counts
        for cases, share in zip(of_run, budget_shares(of_run))
    ]
