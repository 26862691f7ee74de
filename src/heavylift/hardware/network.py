"""Links between hosts, and the hosts file that names them.

Bandwidth is the TCP payload rate: the line rate x 1448/1538 for Ethernet with a 1500-byte MTU
(IEEE 802.3 framing: 38 bytes of preamble, header, FCS and inter-frame gap per frame, 52 bytes
of IP + TCP headers with timestamps per segment). llama.cpp's RPC backend talks plain TCP
sockets (ggml-rpc.cpp, unless built with GGML_RPC_RDMA), so InfiniBand carries it as IPoIB.
Round-trip times are kernel-TCP ping-pong figures: each link's `source` says where it comes from,
and which are assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from heavylift.errors import UsageError

ETHERNET_TCP_EFFICIENCY = 1448 / 1538


@dataclass(frozen=True)
class NetworkSpec:
    key: str
    name: str
    bandwidth_bps: float  # bytes/s of TCP payload, one direction
    rtt_s: float  # one request/response round trip over kernel TCP, small messages
    source: str


def _eth(key: str, name: str, gbit: float, rtt_us: float, rtt_source: str) -> NetworkSpec:
    return NetworkSpec(key, name, gbit * 1e9 / 8 * ETHERNET_TCP_EFFICIENCY, rtt_us * 1e-6,
                       f"{gbit:g} Gb/s line rate x 1448/1538 (IEEE 802.3 framing, 1500 MTU); RTT {rtt_us:g} us: {rtt_source}")


NETWORKS: dict[str, NetworkSpec] = {n.key: n for n in [
    _eth("1gbe", "1 GbE", 1, 120, "assumed typical switched-LAN kernel TCP ping-pong (not measured here)"),
    _eth("10gbe", "10 GbE", 10, 40, "kernel TCP ('CPU-centric') communication latencies of 30-40 us, Mellanox, "
         "'InfiniBand In-Network Computing Technology and Roadmap' (2019), slide 4"),
    _eth("25gbe", "25 GbE", 25, 35, "as 10 GbE: the kernel's TCP stack, not the wire, dominates (Mellanox 2019, slide 4)"),
    _eth("100gbe", "100 GbE", 100, 30, "as 10 GbE: the kernel's TCP stack dominates (Mellanox 2019, slide 4)"),
    NetworkSpec("ib-hdr", "InfiniBand HDR (IPoIB)", 200e9 / 8 * 0.5, 20e-6,
                "HDR 200 Gb/s data rate (ConnectX-6, Lenovo Press LP1195: sub-600 ns adapter latency for RDMA); "
                "llama.cpp RPC uses TCP over IPoIB: 50% of the data rate and a 20 us RTT assumed"),
    NetworkSpec("ib-ndr", "InfiniBand NDR (IPoIB)", 400e9 / 8 * 0.5, 20e-6,
                "NDR 400 Gb/s data rate (ConnectX-7); llama.cpp RPC over IPoIB: 50% of it and a 20 us RTT assumed"),
    NetworkSpec("loopback", "loopback / veth (one machine)", 2.0e9, 50e-6,
                "measured here: veth pairs between network namespaces on the 2-vCPU dev VM "
                "(docs/scale-out.md, tests/engines/test_rpc_netns.py); not a real network"),
]}
NETWORK_ALIASES = {"gbe": "1gbe", "1g": "1gbe", "10g": "10gbe", "25g": "25gbe", "100g": "100gbe",
                   "infiniband": "ib-hdr", "hdr": "ib-hdr", "ndr": "ib-ndr", "ib": "ib-hdr"}


def network(name: str) -> NetworkSpec:
    key = name.strip().lower().replace(" ", "")
    key = NETWORK_ALIASES.get(key, key)
    if key not in NETWORKS:
        raise UsageError(f"network {name!r} unknown; use one of {', '.join(NETWORKS)}")
    return NETWORKS[key]


@dataclass
class HostSpec:
    name: str
    address: str
    hw: str  # a hardware spec as `--hw` takes it


@dataclass
class HostsFile:
    hosts: list[HostSpec]  # the first runs llama-server / the Ray head
    network: NetworkSpec
    path: Path | None = None


_HOST_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s+(?P<addr>\S+)\s+(?P<hw>.+)$")


def parse_hosts(text: str, path: Path | None = None) -> HostsFile:
    """Lines `NAME ADDRESS HARDWARE-SPEC` (the rest of the line is the spec) and one `network KIND`;
    `#` starts a comment. The first host is where the server (or the Ray head) runs."""
    hosts: list[HostSpec] = []
    net: NetworkSpec | None = None
    where = str(path) if path else "hosts"
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0].lower() == "network":
            if len(words) != 2:
                raise UsageError(f"{where}:{n}: write `network KIND` (one of {', '.join(NETWORKS)})")
            net = network(words[1])
            continue
        m = _HOST_LINE.match(line)
        if not m:
            raise UsageError(f"{where}:{n}: expected `NAME ADDRESS HARDWARE-SPEC`, got {line!r}")
        if any(h.name == m["name"] for h in hosts):
            raise UsageError(f"{where}:{n}: host {m['name']} is listed twice")
        hosts.append(HostSpec(m["name"], m["addr"], m["hw"].strip()))
    if len(hosts) < 2:
        raise UsageError(f"{where}: a hosts file needs at least two hosts (NAME ADDRESS HARDWARE-SPEC per line)")
    if net is None:
        raise UsageError(f"{where}: say how the hosts are connected: a line `network KIND` ({', '.join(NETWORKS)})")
    return HostsFile(hosts, net, path)


def read_hosts(path: Path) -> HostsFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read hosts file {path} ({e.strerror}); check the path") from None
    return parse_hosts(text, path)
