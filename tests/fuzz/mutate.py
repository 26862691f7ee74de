"""Byte-level mutation of real files, seeded so every failure is reproducible by its index."""

from __future__ import annotations

import random
import struct

_INTERESTING_U32 = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 12, 8, 9, 30, 31)
_INTERESTING_U64 = (0, 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**40)


def mutate(data: bytes, rng: random.Random, region: int | None = None, max_ops: int = 4) -> bytes:
    """1..max_ops random edits inside the first `region` bytes (default: anywhere): bit flips,
    random bytes, interesting integers (sizes, counts, type ids), deletions, insertions,
    duplicated chunks and truncation."""
    buf = bytearray(data)
    limit = min(len(buf), region or len(buf))
    for _ in range(rng.randint(1, max_ops)):
        if not buf:
            break
        limit = min(limit, len(buf))
        pos = rng.randrange(max(limit, 1))
        op = rng.randrange(8)
        if op == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:
            for i in range(pos, min(pos + rng.randint(1, 8), len(buf))):
                buf[i] = rng.randrange(256)
        elif op == 2 and pos + 4 <= len(buf):
            buf[pos:pos + 4] = struct.pack("<I", rng.choice(_INTERESTING_U32))
        elif op == 3 and pos + 8 <= len(buf):
            buf[pos:pos + 8] = struct.pack("<Q", rng.choice(_INTERESTING_U64))
        elif op == 4:
            del buf[pos:pos + rng.randint(1, 64)]
        elif op == 5:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif op == 6:
            start = rng.randrange(max(limit, 1))
            buf[pos:pos] = buf[start:start + rng.randint(1, 256)]
        else:
            del buf[rng.randrange(max(limit, 1)):]
    return bytes(buf)


class GGUFLayout:
    """Where each header field of a real GGUF sits (from the gguf package's reader), so that
    mutations can hit the values a reader trusts: lengths, type tags, counts, dimensions, ggml
    types and offsets, as well as raw bytes."""

    def __init__(self, path) -> None:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        self.header_bytes = int(reader.data_offset)
        self.slots: list[tuple[int, int]] = [(4, 4), (8, 8), (16, 8)]  # version, tensor count, kv count
        fields = [f for f in reader.fields.values() if not f.name.startswith("GGUF.")]
        for part_owner in [*(f for f in fields), *(t.field for t in reader.tensors)]:
            offset = part_owner.offset
            for part in part_owner.parts:
                size = int(part.nbytes)
                if size in (1, 2, 4, 8) or size <= 64:
                    self.slots.append((offset, size))
                offset += size


def mutate_gguf(data: bytes, layout: GGUFLayout, rng: random.Random) -> bytes:
    """Half the time a field-aware edit (an interesting value in a length, count, type tag or
    dimension; garbage in a string), else random byte-level edits inside the header."""
    if rng.random() < 0.5:
        return mutate(data, rng, region=layout.header_bytes, max_ops=3)
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        offset, size = rng.choice(layout.slots)
        if size == 4:
            value = struct.pack("<I", rng.choice(_INTERESTING_U32 + (rng.randrange(2**32),)))
        elif size == 8:
            value = struct.pack("<Q", rng.choice(_INTERESTING_U64 + (rng.randrange(64), rng.randrange(2**64))))
        else:
            value = bytes(rng.choice((0, 0xFF, 0x2E, 0x2F, 0x41, rng.randrange(256))) for _ in range(size))
        buf[offset:offset + size] = value[:size]
    return bytes(buf)
