"""Write a GGUF from a header and a tensor manifest (bench/gpu/make_kit.py) with random but valid
data: quantized blocks get random quants and a small finite fp16 scale (ggml-common.h block
layouts), F32 norms are ones, other float tensors small random values. Only numpy.

    python3 fill_gguf.py HEAD MANIFEST OUT
"""

from __future__ import annotations

import json
import sys

import numpy as np

# ggml type -> (bytes per block, offsets of the block's fp16 fields); ggml-common.h block_* structs
BLOCKS = {
    "Q4_0": (18, (0,)), "Q4_1": (20, (0, 2)), "Q5_0": (22, (0,)), "Q5_1": (24, (0, 2)), "Q8_0": (34, (0,)),
    "Q2_K": (84, (80, 82)), "Q3_K": (110, (108,)), "Q4_K": (144, (0, 2)), "Q5_K": (176, (0, 2)),
    "Q6_K": (210, (208,)), "IQ4_NL": (18, (0,)), "IQ4_XS": (136, (0,)),
}
SCALE = np.float16(0.002).tobytes()
POOL = np.random.default_rng(0).integers(0, 256, size=64 << 20, dtype=np.uint8)


def random_bytes(n: int, rng) -> np.ndarray:
    start = int(rng.integers(0, max(1, len(POOL) - n)))
    if n <= len(POOL) - start:
        return POOL[start:start + n].copy()
    return np.resize(np.roll(POOL, -start), n)


def tensor_data(t: dict, rng) -> np.ndarray:
    kind, n = t["type"], t["n_bytes"]
    if kind == "F32":
        count = n // 4
        vals = np.ones(count, np.float32) if "norm" in t["name"] else rng.standard_normal(count, np.float32) * 0.02
        return vals.view(np.uint8)
    if kind in ("F16", "BF16"):
        vals = rng.standard_normal(n // 2, np.float32) * 0.02
        if kind == "F16":
            return vals.astype(np.float16).view(np.uint8)
        return (vals.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
    if kind not in BLOCKS:
        raise SystemExit(f"fill_gguf: no block layout for {kind} ({t['name']})")
    size, fp16_at = BLOCKS[kind]
    data = random_bytes(n, rng)
    blocks = data.reshape(-1, size)
    for off in fp16_at:
        blocks[:, off:off + 2] = np.frombuffer(SCALE, np.uint8)
    return data


def main() -> int:
    head, manifest_path, out = sys.argv[1:4]
    m = json.loads(open(manifest_path).read())
    rng = np.random.default_rng(1)
    with open(out, "wb") as f:
        f.write(open(head, "rb").read())
        for t in sorted(m["tensors"], key=lambda t: t["offset"]):
            f.seek(t["offset"])
            f.write(tensor_data(t, rng).tobytes())
        f.truncate(m["size"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
