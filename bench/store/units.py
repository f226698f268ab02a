"""Units: the result files hold seconds and bytes; what a reader sees is in milliseconds and MiB.

One conversion each, for the terminal tables, the Markdown tables and the plots. Each takes a
number, a NumPy array or a pandas Series (or a CSV cell, for `ms`) and returns the same kind.
"""

from __future__ import annotations

MS = 1e3  # milliseconds per second
MIB = 2**20  # bytes per MiB


def ms(seconds):
    """Seconds in milliseconds; a CSV cell (a string) is read as a number first."""
    return (float(seconds) if isinstance(seconds, str) else seconds) * MS


def mib(size_bytes):
    """Bytes in MiB."""
    return (float(size_bytes) if isinstance(size_bytes, str) else size_bytes) / MIB
