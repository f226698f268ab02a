"""The driver's connection: Ray imported (only here), the address checked, the nodes that offer a timing slot.

Addresses follow Ray's conventions: HOST:PORT of the head's GCS (`ray start
--head` prints it), `auto` for the cluster started last on this machine, and
RAY_ADDRESS when set (it wins over `auto`, as in ray.init). Every problem is
one line and exit status 2, before anything is timed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from . import SLOT
from ..suite.options import UsageError

REACH_TIMEOUT_S = 5.0
# A Ray that stays on loopback, set before Ray is imported (it reads these once) in every process of a
# local cluster: the driver (connect below), and the tests' clusters (tests/conftest.py).
CLOSED_PROXY = "http://127.0.0.1:9"  # a closed port: whatever HTTP Ray's processes try ends there
LOOPBACK_ONLY = {
    # Ray 2.60 rewrites a loopback address to the machine's network address when it connects
    # (services.resolve_ip_for_localhost) unless this is 0.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # Usage statistics off; even so, the head's API server (its one module without the dashboard is
    # UsageStatsHead) asks the cloud metadata address which cloud it is on and reports that the
    # statistics are off: its HTTP goes to a closed proxy on loopback instead, and Ray's own gRPC
    # between loopback addresses bypasses it (NO_PROXY).
    "RAY_USAGE_STATS_ENABLED": "0",
    "HTTP_PROXY": CLOSED_PROXY, "HTTPS_PROXY": CLOSED_PROXY, "http_proxy": CLOSED_PROXY, "https_proxy": CLOSED_PROXY,
    "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
}


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--cluster needs Ray, which is not installed here: pip install -e \".[ray]\"") from None
    return ray


def _current_cluster_file() -> Path:
    """Where `ray start` records the cluster last started on this machine (what Ray's `auto` reads)."""
    return Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"


def resolve(address: str) -> str:
    """HOST:PORT for `address`: itself, or for `auto` RAY_ADDRESS, else the cluster started last here."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or ""
        if not address:
            try:
                address = _current_cluster_file().read_text().strip()
            except OSError:
                raise UsageError("--cluster auto: no Ray cluster started on this machine and RAY_ADDRESS unset; "
                                 "give the head's HOST:PORT") from None
    if address.startswith("ray://"):
        raise UsageError(f"--cluster {address}: give the head's GCS address HOST:PORT (Ray Client is not supported)")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--cluster {address}: expected HOST:PORT of a Ray head, or auto")
    return f"{host}:{port}"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(address: str):
    """ray, connected to the cluster at `address`; UsageError (one line) if it cannot be."""
    hostport = resolve(address)
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        raise UsageError(f"--cluster {address}: no Ray cluster reachable at {hostport} ({e.strerror or e})") from None
    if is_loopback(host):
        os.environ.update(LOOPBACK_ONLY)  # before Ray is imported: it reads these once
    ray = import_ray()
    try:
        ray.init(address=hostport, logging_level="WARNING", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UsageError(f"--cluster {address}: Ray could not connect to {hostport}: {str(e).splitlines()[0]}") from None
    return ray


def slot_nodes(ray) -> list[dict]:
    """The alive nodes that offer a timing slot (ray.nodes() entries); UsageError if there is none."""
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(SLOT, 0) >= 1]
    if not nodes:
        raise UsageError(f"--cluster: no node of the cluster offers a timing slot; start timing nodes with "
                         f"ray start ... --resources '{{\"{SLOT}\": 1}}' (docs/commands.md)")
    return nodes
