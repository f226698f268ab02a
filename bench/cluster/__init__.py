"""The suite on a Ray cluster: `python -m bench run --cluster ADDRESS` and `python -m bench stability --cluster
ADDRESS` (docs/commands.md, "On a Ray cluster").

Ray does the scheduling; this package only says what a task is, which nodes
may take it, and what the driver does with what comes back. Nothing here is
imported, and Ray is not imported, unless --cluster is given.

    connect.py      the address (Ray's conventions: host:port, auto, RAY_ADDRESS), Ray imported, the timing slots found
    node_facts.py   what a node must share with the driver (code, framework versions) and its fingerprint
    units.py        the units of work: one problem (both arms, all heads) of one slice, or one process of it; its pytest -k
    task.py         the Ray tasks: a node's facts, one unit timed in a pytest subprocess
    scratch.py      a task's temporary directories, removed even when its worker is killed
    merge.py        a finished task's rows and rounds (a problem's processes combined) merged into results/<machine>/,
                    and what --resume skips
    driver.py       the commands: probe the nodes, submit every unit, merge each as it arrives; stability's runs

Three rules of timing hold on the cluster:

- One timing task per node at a time. Every node offers one unit of the
  custom resource SLOT (`ray start --resources '{"tdbench_slot": 1}'`) and
  every task asks for it, so Ray's own scheduler never puts two on one node.
  A custom resource rather than a placement group: a placement group reserves
  bundles for the lifetime of one job, and a STRICT_SPREAD group of N bundles
  needs N nodes free before any task starts, holds each node for the whole run
  whether its tasks are done or not, and says nothing about a second job (a
  second driver, `bench stability` beside `bench run`) on the same node. The
  slot is a property of the node: whoever submits, one timing task holds it.
  It also lets a node opt in (a head node without the slot never times) and a
  GPU node offer its own slot.
- A ratio's two arms in one process: a unit is a whole problem (every
  framework and head of one pytest-benchmark group, one compile setting), run
  by one `pytest bench/` on one node. With `--processes N` a problem is N
  such units, each the whole problem in a process of its own, on nodes of one
  kind, combined once all have arrived.
- One result set per machine kind: nodes are grouped by fingerprint
  (bench/store/machine.py), each unit is sent to the nodes of one kind (Ray's
  label selector on the node id, so a retry lands on another node of that
  kind), and its rows are merged into that kind's results/<machine>/.
"""

# The custom resource each timing node offers once: `ray start --resources '{"tdbench_slot": 1}'`.
SLOT = "tdbench_slot"


def add_cluster_arguments(parser, resume: bool = True) -> None:
    """--cluster and what goes with it, for the commands that time (`run`, `td-tax`; `stability` without --resume)."""
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run each problem as a task on a Ray cluster: the head's HOST:PORT, or auto "
                        "(RAY_ADDRESS, else the cluster started last here); results/<machine>/ per machine kind")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="with --cluster: times Ray re-runs a task whose worker or node was lost (default: %(default)s)")
    if resume:
        parser.add_argument("--resume", action="store_true",
                            help="with --cluster: skip problems a machine directory already holds from the same code "
                            "(timed in --processes processes)")
