"""llama.cpp's RPC workers: endpoints, the protocol handshake, and the address rules.

A worker is `ggml-rpc-server` (tools/rpc/rpc-server.cpp): it offers its devices (a GPU, or its
CPU and RAM) to one llama-server at a time over TCP. The protocol has NO authentication and no
encryption: anyone who reaches the port can allocate its memory and run graphs on it. So a worker
binds a loopback or private address only, unless the user passes an explicit risk flag.

Before anything is launched, each worker is asked over the wire, as llama-server itself will
(ggml/src/ggml-rpc/ggml-rpc.cpp at 0c1e570): the HELLO handshake (`negotiate_hello`: a client
accepts a server whose major version equals its own and whose minor is not newer), then
RPC_CMD_DEVICE_COUNT and RPC_CMD_GET_DEVICE_MEMORY for each device. Wire format: a request is
| cmd (1 byte) | size (uint64 LE) | data |; a reply is | size (uint64 LE) | data |.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from dataclasses import dataclass, field

from heavylift.errors import EngineError, UsageError

# ggml/include/ggml-rpc.h at the pinned llama.cpp (0c1e570)
RPC_PROTO_VERSION = (7, 0, 0)
DEFAULT_PORT = 50052  # rpc_server_params.port in tools/rpc/rpc-server.cpp
RISK_FLAG = "--i-understand-rpc-is-unauthenticated"

CMD_GET_DEVICE_MEMORY = 11
CMD_HELLO = 14
CMD_DEVICE_COUNT = 15
CONN_CAPS_SIZE = 24  # RPC_CONN_CAPS_SIZE (transport.h): rpc_msg_hello_req is just these bytes

_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:=\s]+)):(?P<port>\d+)(?:=(?P<mem>.+))?$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$", re.I)


class WorkerUnavailable(EngineError):
    """A worker cannot be used right now (down, busy); the engine waits for it instead of crashing."""


@dataclass(frozen=True)
class WorkerEndpoint:
    host: str
    port: int
    mem_limit_bytes: int | None = None  # `host:port=24GiB`: use at most this much of it

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass
class WorkerInfo:
    endpoint: WorkerEndpoint
    version: tuple[int, int, int]
    devices: list[tuple[int, int]] = field(default_factory=list)  # (free, total) bytes per device

    @property
    def usable_bytes(self) -> int:
        """What the planner may put on this worker: its devices' free memory, capped by the endpoint's limit."""
        free = sum(f for f, _ in self.devices)
        limit = self.endpoint.mem_limit_bytes
        return min(free, limit) if limit else free


def parse_size(text: str) -> int:
    """'24GiB', '512M', '1e9'-free plain bytes -> bytes (binary units; B/KB/MB/GB read as powers of 1024)."""
    m = _SIZE.match(text.strip())
    if not m:
        raise UsageError(f"{text!r} is not a size; use e.g. 24GiB, 512MiB or a number of bytes")
    unit = (m[2] or "b").lower()[:1]
    value = float(m[1]) * 1024 ** "bkmgt".index(unit)
    if value < 1:
        raise UsageError(f"{text!r}: a size must be at least 1 byte")
    return int(value)


def parse_endpoints(text: str) -> list[WorkerEndpoint]:
    """`host:port[=MEM],...` (IPv6 as `[addr]:port`)."""
    out = []
    for raw in (x.strip() for x in text.split(",")):
        if not raw:
            continue
        m = _ENDPOINT.match(raw)
        if not m:
            raise UsageError(f"worker {raw!r}: use HOST:PORT or HOST:PORT=MEM (e.g. 10.0.0.2:{DEFAULT_PORT}=24GiB)")
        port = int(m["port"])
        if not 0 < port < 65536:
            raise UsageError(f"worker {raw!r}: port {port} is out of range (1-65535)")
        out.append(WorkerEndpoint(m["v6"] or m["host"], port, parse_size(m["mem"]) if m["mem"] else None))
    if not out:
        raise UsageError("--workers is empty; give HOST:PORT[,HOST:PORT...]")
    if len(set(map(str, out))) != len(out):
        raise UsageError(f"--workers names a worker twice: {text}")
    return out


def is_private_address(host: str) -> bool:
    """Loopback, RFC 1918 / RFC 4193 private, or link-local: reachable only from a local network."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return addr.is_loopback or addr.is_private and not addr.is_unspecified or addr.is_link_local


def check_worker_bind(host: str, is_risk_accepted: bool) -> None:
    """Refuse 0.0.0.0 / :: and public addresses unless the user accepts that RPC has no auth."""
    if is_risk_accepted:
        return
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {host!r}: give an IP address (a worker binds one address, not a name)") from None
    if addr.is_unspecified:
        raise UsageError(f"refusing to bind {host}: every network could reach the worker, and llama.cpp's RPC "
                         f"protocol has no authentication; bind a private address, or pass {RISK_FLAG}")
    if not is_private_address(host):
        raise UsageError(f"refusing to bind public address {host}: llama.cpp's RPC protocol has no authentication; "
                         f"bind a private address (10.x, 172.16-31.x, 192.168.x, fd00::/8), or pass {RISK_FLAG}")


def probe(endpoint: WorkerEndpoint, timeout_s: float = 5.0) -> WorkerInfo:
    """Handshake with a worker and read its devices' memory; EngineError saying why it cannot be used."""
    where = str(endpoint)
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s)
    except TimeoutError:
        raise WorkerUnavailable(f"worker {where} did not answer within {timeout_s:.0f}s (unreachable host, or a "
                                "firewall); check the address and that `heavylift worker start` runs there") from None
    except OSError as e:
        raise WorkerUnavailable(f"worker {where} is unreachable ({e.strerror or e}); start it with "
                                f"`heavylift worker start --host {endpoint.host} --port {endpoint.port}` there") from None
    with sock:
        try:
            _send(sock, CMD_HELLO, bytes(CONN_CAPS_SIZE))
            reply = _recv(sock)
        except TimeoutError:
            raise WorkerUnavailable(f"worker {where} accepted the connection but did not answer the handshake within "
                                    f"{timeout_s:.0f}s: it serves one llama-server at a time and is busy, or it is "
                                    "not a llama.cpp RPC server") from None
        except ConnectionError:
            raise EngineError(f"worker {where} closed the connection at the handshake: it speaks an older or newer "
                              f"llama.cpp RPC protocol than v{_v(RPC_PROTO_VERSION)}; run the same llama.cpp build "
                              "on every host (`heavylift setup` there)") from None
        if len(reply) < 3:
            raise EngineError(f"worker {where} answered the handshake with {len(reply)} bytes; not a compatible "
                              "llama.cpp RPC server")
        version = (reply[0], reply[1], reply[2])
        if not is_compatible(version):
            raise EngineError(f"worker {where} speaks llama.cpp RPC protocol v{_v(version)}, this llama-server speaks "
                              f"v{_v(RPC_PROTO_VERSION)} (it needs the same major version and a minor no newer); "
                              "run the same llama.cpp build on every host (`heavylift setup` there)")
        try:
            _send(sock, CMD_DEVICE_COUNT, b"")
            (count,) = struct.unpack("<I", _recv(sock, 4))
            devices = []
            for i in range(count):
                _send(sock, CMD_GET_DEVICE_MEMORY, struct.pack("<I", i))
                devices.append(struct.unpack("<QQ", _recv(sock, 16)))
        except (OSError, struct.error) as e:
            raise EngineError(f"worker {where}: reading its devices failed ({e}); is it a llama.cpp RPC server?") from None
    return WorkerInfo(endpoint, version, [(int(f), int(t)) for f, t in devices])


def is_compatible(version: tuple[int, int, int]) -> bool:
    """ggml-rpc.cpp negotiate_hello: same major, minor not newer than ours."""
    return version[0] == RPC_PROTO_VERSION[0] and version[1] <= RPC_PROTO_VERSION[1]


def probe_all(endpoints: list[WorkerEndpoint], timeout_s: float = 5.0) -> list[WorkerInfo]:
    return [probe(e, timeout_s) for e in endpoints]


def _v(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def _send(sock: socket.socket, cmd: int, data: bytes) -> None:
    sock.sendall(bytes([cmd]) + struct.pack("<Q", len(data)) + data)


def _recv(sock: socket.socket, expected: int | None = None) -> bytes:
    size = struct.unpack("<Q", _read(sock, 8))[0]
    if expected is not None and size != expected:
        raise ConnectionError(f"reply of {size} bytes, expected {expected}")
    if size > 1 << 16:
        raise ConnectionError(f"reply of {size} bytes to a handshake")
    return _read(sock, size)


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf
