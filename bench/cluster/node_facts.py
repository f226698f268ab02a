"""What a node must share with the driver before it times anything, and the machine it is.

The driver refuses a node whose code or framework versions differ from its
own, in one line naming the node. The code is not shipped (Ray's
runtime_env working_dir would copy bench/ without its git history, so the
commit a result set records, bench/suite/environment.py code_version, could
not be checked, and every node needs the frameworks installed anyway): each
node runs its own checkout, and the check makes sure it is the driver's.
"code" is the commit with "+changes" for a dirty tree; `changes` is a digest
of the diff, so two different dirty trees never pass for one.

A node's facts come from a pytest process (`python -m pytest -p
bench.cluster.node_facts`), the kind of process that times, so its
fingerprint is the one its result rows will carry (the tests' machine
override, bench/store/machine.py, holds there as in the timed run).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from impls.contract import package_version

from ..store.machine import OtherMachine, fingerprint
from ..suite.environment import PACKAGES, code_version

REPO = Path(__file__).resolve().parents[2]
FACTS_PREFIX = "tdbench-node-facts "


def changes_digest() -> str:
    """A digest of the tracked changes outside results/ (empty for a clean tree or outside git)."""
    try:
        diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD", "--", ".", ":!results"],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return hashlib.sha256(diff.stdout).hexdigest()[:12] if diff.returncode == 0 and diff.stdout else ""


def code_facts() -> dict:
    """The code and the framework versions, which must match the driver's."""
    return {"code": code_version(), "changes": changes_digest(),
            "versions": {name: package_version(name) for name in PACKAGES}}


def facts() -> dict:
    try:
        machine, problem = fingerprint(), None
    except OtherMachine as e:
        machine, problem = None, str(e)
    return {**code_facts(), "checkout": str(REPO), "fingerprint": machine, "problem": problem}


def pytest_configure(config):
    """As a pytest plugin: print this node's facts on one line and stop."""
    import pytest

    print(FACTS_PREFIX + json.dumps(facts()), flush=True)
    pytest.exit("node facts printed", returncode=0)


def differences(driver: dict, node: dict) -> list[str]:
    """What differs between the driver's code facts and a node's, in words; empty when they agree."""
    out = []
    if (driver["code"], driver["changes"]) != (node["code"], node["changes"]):
        show = lambda f: f"{f['code']}" + (f" (diff {f['changes']})" if f["changes"] else "")
        out.append(f"code {show(node)}, driver {show(driver)}")
    for name, version in driver["versions"].items():
        if node["versions"].get(name) != version:
            out.append(f"{name} {node['versions'].get(name)}, driver {version}")
    return out
