"""Several hosts on one machine: network namespaces joined to the root namespace by veth pairs.

Each host gets its own namespace with one address (10.X.N.2), the root namespace the other end
(10.X.N.1), X from the test run's pid. Created and removed by the tests (root and `ip` needed); traffic goes only to these
addresses."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

SUBNET = f"10.{200 + os.getpid() % 50}"  # per test run: two runs at once do not share addresses


def can_run() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "the `ip` command (iproute2) is missing"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()[:200]}"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass
class NetnsHost:
    name: str  # namespace name
    address: str  # inside the namespace
    gateway: str  # the root namespace's end
    veth_root: str

    def cmd(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def delay(self, ms: float) -> None:
        """Add `ms` of one-way delay on both ends of the link (tc netem), 0 to remove it."""
        for ns, dev in ((self.name, "eth0"), (None, self.veth_root)):
            prefix = ["ip", "netns", "exec", ns] if ns else []
            subprocess.run([*prefix, "tc", "qdisc", "del", "dev", dev, "root"], capture_output=True)
            if ms:
                subprocess.run([*prefix, "tc", "qdisc", "add", "dev", dev, "root", "netem", "delay", f"{ms}ms"],
                               check=True, capture_output=True)


def create(n: int, tag: str) -> list[NetnsHost]:
    hosts = []
    try:
        for i in range(1, n + 1):
            ns, root_dev = f"hl-{tag}-{i}", f"hl{tag[:6]}{i}"
            remove([NetnsHost(ns, "", "", root_dev)])  # left over from a killed run
            _ip("netns", "add", ns)
            _ip("link", "add", root_dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("addr", "add", f"{SUBNET}.{i}.1/30", "dev", root_dev)
            _ip("link", "set", root_dev, "up")
            _ip("-n", ns, "addr", "add", f"{SUBNET}.{i}.2/30", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            hosts.append(NetnsHost(ns, f"{SUBNET}.{i}.2", f"{SUBNET}.{i}.1", root_dev))
    except subprocess.CalledProcessError:
        remove(hosts)
        raise
    return hosts


def remove(hosts: list[NetnsHost]) -> None:
    for h in hosts:
        _ip("link", "del", h.veth_root, check=False)  # removes both ends
        _ip("netns", "del", h.name, check=False)
