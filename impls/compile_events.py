"""Counting what the compilers do, so a row can say whether its timed calls compiled anything.

A compiled path must compile once, before the timed rounds; one that compiles
on every call (Keras on JAX with `jit_compile=False` does: each
`predict_on_batch` jits its `lax.scan` anew) is timing its compiler. Each
function here returns a running total for this process; callers take
differences around the calls they care about.
"""

from __future__ import annotations

from collections import Counter

# JAX reports one of these events per XLA compilation (jax._src.dispatch).
_JAX_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_jax_compiles = 0
_jax_listening = False


def _count_jax_compile(event: str, *args, **kwargs) -> None:
    global _jax_compiles
    if event == _JAX_COMPILE_EVENT:
        _jax_compiles += 1


def jax_compiles() -> int:
    """XLA compilations JAX has run since this process first asked."""
    global _jax_listening
    if not _jax_listening:
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_count_jax_compile)
        _jax_listening = True
    return _jax_compiles


def dynamo_graphs() -> int:
    """Graphs torch.compile (Dynamo) has compiled in this process."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def dynamo_graph_breaks() -> Counter:
    """Dynamo's graph breaks so far, keyed by the first line of their reason."""
    from torch._dynamo.utils import counters

    out = Counter()
    for reason, n in counters["graph_break"].items():
        out[str(reason).strip().splitlines()[0]] += n
    return out


def tf_traces(*functions) -> int:
    """Traces of the tf.functions reachable from `functions` (Keras keeps them in closures).

    A tf.function traces (and, under XLA, compiles) once per input signature;
    a count that grows during timed calls means it retraced.
    """
    seen, total, stack = set(), 0, [f for f in functions if f is not None]
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        count = getattr(f, "experimental_get_tracing_count", None)
        if count is not None:
            total += count()
            f = getattr(f, "_python_function", None)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(value):
                stack.append(value)
    return total


def summarise_breaks(before: Counter, after: Counter) -> str:
    """'N: reason; reason x2' for the breaks between two snapshots, or '' if none."""
    new = after - before
    if not new:
        return ""
    parts = [reason if n == 1 else f"{reason} x{n}" for reason, n in sorted(new.items())]
    return f"{sum(new.values())}: " + "; ".join(parts)
