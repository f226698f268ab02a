"""`python -m bench migrate`: move a flat results/ (the layout before machine directories) into results/<machine>/.

The set's machine is the one its environment.json slices record
(bench/store/layout.py recorded_machine); a set whose slices name two
machines, or none, is refused in one line. What is not one machine's stays
at the root: params.csv (counts do not depend on the machine), reference.json,
and the machine directories already there. Each entry is moved with one
rename, so an interrupted migrate leaves every file in one place or the
other, and running it again finishes the move. With no reference.json yet,
the moved set becomes the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..store import layout
from ..store.machine import describe, machine_name, same_machine, slice_machine
from ..store.results import load_environment
from ..store.files import atomic_write_text, json_text
from .command_args import UsageError

# Entries of a results root that belong to no single machine.
SHARED = {*layout.SHARED_FILES, layout.REFERENCE_FILE}


def add_arguments(parser) -> None:
    parser.add_argument("--results-root", type=Path, default=layout.RESULTS_ROOT, metavar="DIR",
                        help="the results root holding a flat set (default: %(default)s)")


def flat_set_machine(root: Path) -> dict:
    """The one machine every slice of the flat set at `root` was measured on."""
    try:
        slices = load_environment(root)["slices"]
    except ValueError as e:
        raise UsageError(str(e)) from None
    machines = [m for m in (slice_machine(env) for env in slices.values()) if m]
    if not machines:
        raise UsageError(f"{root}/environment.json: no slice records its machine, so the set has no machine directory")
    other = next((m for m in machines if not same_machine(m, machines[0])), None)
    if other is not None:
        raise UsageError(f"{root}: its slices come from two machines ({describe(machines[0])}; {describe(other)}); "
                         "split them by hand")
    return machines[0]


def run(args) -> int:
    root = args.results_root
    if not layout.is_flat(root):
        raise UsageError(f"{root}: no flat result set at its top (nothing to migrate)")
    fingerprint = flat_set_machine(root)
    target = layout.claim_machine_dir(layout.machine_dir(root, fingerprint), fingerprint)
    machine_dirs = set(layout.machine_dirs(root).values())
    moving = [p for p in sorted(root.iterdir()) if p.name not in SHARED and p not in machine_dirs]
    clashes = [p.name for p in moving if (target / p.name).exists()]
    if clashes:
        raise UsageError(f"{target}: already holds {', '.join(clashes)}; move the rest by hand")
    for path in moving:
        os.replace(path, target / path.name)
    if layout.reference_name(root) is None:
        atomic_write_text(root / layout.REFERENCE_FILE, json_text({"machine": target.name}))
    print(f"moved {len(moving)} entr{'y' if len(moving) == 1 else 'ies'} into {target}/ ({machine_name(fingerprint)})")
    return 0
