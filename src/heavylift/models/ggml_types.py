"""ggml tensor types and llama.cpp file types, as numbered in the pinned llama.cpp.

Block sizes and bytes per block follow ggml/src/ggml.c `type_traits` (mirrored in
gguf-py/gguf/constants.py `GGML_QUANT_SIZES`); file types follow include/llama.h `llama_ftype`.
"""

from __future__ import annotations

from dataclasses import dataclass

QK_K = 256


@dataclass(frozen=True)
class GGMLType:
    name: str
    type_id: int
    block_size: int
    block_bytes: int

    def row_bytes(self, n_elements: int) -> int:
        """ggml_row_size(): bytes of n_elements of this type (n_elements must fill whole blocks)."""
        return self.block_bytes * n_elements // self.block_size


_TYPES = [
    GGMLType("F32", 0, 1, 4),
    GGMLType("F16", 1, 1, 2),
    GGMLType("Q4_0", 2, 32, 18),
    GGMLType("Q4_1", 3, 32, 20),
    GGMLType("Q5_0", 6, 32, 22),
    GGMLType("Q5_1", 7, 32, 24),
    GGMLType("Q8_0", 8, 32, 34),
    GGMLType("Q8_1", 9, 32, 36),
    GGMLType("Q2_K", 10, QK_K, 2 + 2 + QK_K // 16 + QK_K // 4),
    GGMLType("Q3_K", 11, QK_K, 2 + QK_K // 4 + QK_K // 8 + 12),
    GGMLType("Q4_K", 12, QK_K, 2 + 2 + QK_K // 2 + 12),
    GGMLType("Q5_K", 13, QK_K, 2 + 2 + QK_K // 2 + QK_K // 8 + 12),
    GGMLType("Q6_K", 14, QK_K, 2 + QK_K // 2 + QK_K // 4 + QK_K // 16),
    GGMLType("Q8_K", 15, QK_K, 4 + QK_K + QK_K // 8),
    GGMLType("IQ2_XXS", 16, QK_K, 2 + QK_K // 4),
    GGMLType("IQ2_XS", 17, QK_K, 2 + QK_K // 4 + QK_K // 32),
    GGMLType("IQ3_XXS", 18, QK_K, 2 + QK_K // 4 + QK_K // 8),
    GGMLType("IQ1_S", 19, QK_K, 2 + QK_K // 8 + QK_K // 16),
    GGMLType("IQ4_NL", 20, 32, 18),
    GGMLType("IQ3_S", 21, QK_K, 2 + QK_K // 4 + QK_K // 8 + QK_K // 32 + 4),
    GGMLType("IQ2_S", 22, QK_K, 2 + QK_K // 4 + QK_K // 16),
    GGMLType("IQ4_XS", 23, QK_K, 2 + 2 + QK_K // 2 + QK_K // 64),
    GGMLType("I8", 24, 1, 1),
    GGMLType("I16", 25, 1, 2),
    GGMLType("I32", 26, 1, 4),
    GGMLType("I64", 27, 1, 8),
    GGMLType("F64", 28, 1, 8),
    GGMLType("IQ1_M", 29, QK_K, QK_K // 8 + QK_K // 16 + QK_K // 32),
    GGMLType("BF16", 30, 1, 2),
    GGMLType("TQ1_0", 34, QK_K, 2 + 4 * 13),
    GGMLType("TQ2_0", 35, QK_K, 2 + 64),
    GGMLType("MXFP4", 39, 32, 17),
    GGMLType("NVFP4", 40, 64, 36),
    GGMLType("Q1_0", 41, 128, 18),
    GGMLType("Q2_0", 42, 64, 18),
]

GGML_TYPES: dict[int, GGMLType] = {t.type_id: t for t in _TYPES}
GGML_TYPES_BY_NAME: dict[str, GGMLType] = {t.name: t for t in _TYPES}

# include/llama.h `enum llama_ftype`
LLAMA_FTYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}
LLAMA_FTYPES_BY_NAME: dict[str, int] = {name: ftype for ftype, name in LLAMA_FTYPES.items()}


def ggml_type(type_id_or_name: int | str) -> GGMLType:
    table = GGML_TYPES_BY_NAME if isinstance(type_id_or_name, str) else GGML_TYPES
    key = type_id_or_name.upper() if isinstance(type_id_or_name, str) else type_id_or_name
    try:
        return table[key]
    except KeyError:
        raise ValueError(f"unknown ggml type {type_id_or_name!r}") from None
