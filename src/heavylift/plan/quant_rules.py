"""Per-tensor GGML type choice for a target file type, as llama-quantize makes it.

A transliteration of src/llama-quant.cpp at the pinned llama.cpp (0c1e570):
`llama_ftype_get_default_type` (file type -> default tensor type), `tensor_allows_quantization`,
`tensor_get_category`, `llama_tensor_get_type_impl` (the per-category mixture rules, including the
`use_more_bits` layer pattern, the attn_v / ffn_down counters and the rules that change with an
importance matrix), `tensor_type_fallback` (rows not divisible by the block size) and
`tensor_requires_imatrix`. Tensors are visited in `llama_model_loader::weights_map` order
(weight_name_comparer: by layer number, then name), which the counters depend on.
File type names are llama-quantize's (tools/quantize/quantize.cpp QUANT_OPTIONS), with its
aliases (Q4_K = Q4_K_M, ...) and `MXFP4` for `MXFP4_MOE`.
"""

from __future__ import annotations

from collections.abc import Iterable

from heavylift.errors import UsageError
from heavylift.models.ggml_types import GGML_TYPES_BY_NAME, LLAMA_FTYPES_BY_NAME
from heavylift.models.gguf_file import TensorSpec
from heavylift.models.model_arch import ModelArch

T = GGML_TYPES_BY_NAME

# llama_ftype_get_default_type
DEFAULT_TYPE: dict[str, str] = {
    "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1", "Q8_0": "Q8_0", "F16": "F16",
    "BF16": "BF16", "F32": "F32", "MXFP4_MOE": "MXFP4", "Q2_K_S": "Q2_K", "Q2_K": "Q2_K", "IQ3_XS": "IQ3_S",
    "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS", "IQ2_M": "IQ2_S", "IQ3_XXS": "IQ3_XXS", "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M",
    "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "IQ3_S": "IQ3_S", "IQ3_M": "IQ3_S",
}
# tools/quantize/quantize.cpp QUANT_OPTIONS aliases, plus the ggml type name MXFP4 people use for the file type
FTYPE_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "MXFP4": "MXFP4_MOE"}
# file types, best first: what plan and quantize offer (F32 is a converter output, not a quantization)
SUPPORTED_FTYPES = ["BF16", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
                    "Q4_1", "IQ4_NL", "IQ4_XS", "Q4_0", "MXFP4_MOE", "Q3_K_L", "Q3_K_M", "IQ3_M", "IQ3_S",
                    "Q3_K_S", "IQ3_XS", "IQ3_XXS", "Q2_K", "Q2_K_S", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS",
                    "IQ1_M", "IQ1_S"]
# tensor_requires_imatrix: ggml types llama-quantize refuses to write without an importance matrix
# (outside token_embd/output), and Q2_K when it is part of a Q2_K_S file
IMATRIX_TYPES = {"IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"}
# file types whose default or per-category types include one of those: llama-quantize stops without
# --imatrix ("this quantization requires an imatrix!"). IQ3_XS puts IQ3_XXS on attn_q/attn_k and the
# middle ffn_gate/ffn_up, IQ2_M makes IQ2_S the default. (A model whose every row falls back to
# IQ4_NL would escape; `requires_imatrix` checks the actual tensors.)
NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "Q2_K_S"}

_NOT_QUANTIZED = ("_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
                  "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
                  "indexer.q_proj.weight", "attn_rel_b.weight", ".position_embd", ".rel_pos", ".patch_embd")
_FALLBACK = {"IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL",
             "IQ3_XXS": "IQ4_NL", "IQ3_S": "IQ4_NL", "IQ4_XS": "IQ4_NL", "Q2_0": "Q4_0", "Q2_K": "Q4_0",
             "Q3_K": "Q4_0", "TQ1_0": "Q4_0", "TQ2_0": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}




def check_ftype(ftype: str) -> str:
    """The canonical file type name (llama-quantize's, case-insensitive, aliases resolved) or UsageError."""
    name = str(ftype).strip().upper()
    name = FTYPE_ALIASES.get(name, name)
    if name not in DEFAULT_TYPE or name not in LLAMA_FTYPES_BY_NAME:
        raise UsageError(f"unknown quantization {ftype!r}; choose one of {', '.join(SUPPORTED_FTYPES)} "
                         f"(aliases: {', '.join(FTYPE_ALIASES)})")
    return name


def needs_imatrix(ftype: str) -> bool:
    """Whether llama-quantize refuses this file type without --imatrix (see NEEDS_IMATRIX)."""
    return check_ftype(ftype) in NEEDS_IMATRIX


def default_has_imatrix(ftype: str) -> bool:
    """What the planner assumes: IQ files are made with an importance matrix (required below IQ3_S,
    and how published IQ GGUFs are made), the other file types without one."""
    name = check_ftype(ftype)
    return name.startswith("IQ") or name in NEEDS_IMATRIX


def requires_imatrix(tensors: Iterable[TensorSpec], ftype: str) -> list[str]:
    """tensor_requires_imatrix over quantized tensors: the names llama-quantize would refuse to make
    without an importance matrix (empty: it runs without one)."""
    ftype = check_ftype(ftype)
    out = []
    for t in tensors:
        if t.name in ("token_embd.weight", "per_layer_token_embd.weight", "output.weight"):
            continue
        if t.ggml_type.name in IMATRIX_TYPES or (t.ggml_type.name == "Q2_K" and ftype == "Q2_K_S"):
            out.append(t.name)
    return out


def loader_order(tensors: Iterable[TensorSpec]) -> list[TensorSpec]:
    """llama_model_loader::weights_map order: layer number (-1 for non-block tensors), then name."""
    return sorted(tensors, key=lambda t: (t.layer, t.name))


def _category(name: str) -> str:
    """tensor_get_category."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"), ("attn_v.weight", "attn_v"),
                     ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in name:
            return cat
    return "other"


def _allows_quantization(t: TensorSpec) -> bool:
    """tensor_allows_quantization: 2D/3D tensors named *weight, minus the listed exceptions."""
    if len(t.shape) < 2 or t.n_elements == t.shape[0]:  # ggml_n_dims(tensor) < 2
        return False
    return t.name.endswith("weight") and not any(key in t.name for key in _NOT_QUANTIZED)


class _State:
    """quantize_state_impl: the counters the mixture rules read."""

    def __init__(self, arch: ModelArch, tensors: list[TensorSpec], has_imatrix: bool):
        self.arch = arch
        cats = [_category(t.name) for t in tensors]
        self.n_attention_wv = sum(c in ("attn_v", "attn_qkv", "attn_kv_b") for c in cats)
        self.has_tied = "output" not in cats
        self.has_imatrix = has_imatrix
        # init_quantize_state_counters: n_ffn_down = n_ffn_gate = n_ffn_up = hparams.n_layer_all (MTP blocks included)
        self.n_layer = arch.n_layer_all
        self.i_attention_wv = self.i_ffn_down = self.i_ffn_gate = self.i_ffn_up = 0


def _more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _impl(qs: _State, new: str, t: TensorSpec, ftype: str, cat: str) -> str:
    """llama_tensor_get_type_impl."""
    arch, a = qs.arch.arch, qs.arch
    n_expert = max(1, a.n_expert)

    def layer_of(counter: int) -> int:
        return t.layer if n_expert > 1 else counter

    if cat == "output" or (qs.has_tied and cat == "token_embd"):
        qk = T[new].block_size
        if ftype == "MXFP4_MOE" or arch == "falcon" or t.shape[0] % qk != 0:
            return "Q8_0"
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if ftype == "MXFP4_MOE":
        return "MXFP4" if len(t.shape) > 2 and t.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return "Q2_K"
        if ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return "IQ3_S"
        return new
    if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
        if cat in ("attn_v", "attn_qkv", "attn_kv_b"):
            qs.i_attention_wv += 1
            if a.n_gqa >= 4 or a.n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
        if a.n_expert == 8 and cat == "attn_k":
            return "Q4_K"
        if cat == "ffn_down":
            i = qs.i_ffn_down
            qs.i_ffn_down += 1
            if i < qs.n_layer // 8:
                return "IQ3_S" if ftype in ("IQ2_S", "IQ2_M") else "Q2_K"
            return new
        if cat == "attn_output":
            if a.n_expert == 8:
                return "Q5_K"
            if ftype in ("IQ1_S", "IQ1_M"):
                return "IQ2_XXS"
            if ftype in ("IQ2_S", "IQ2_M"):
                return "IQ3_S"
        return new
    if cat in ("attn_v", "attn_qkv", "attn_kv_b"):
        i, n, gqa = qs.i_attention_wv, qs.n_attention_wv, a.n_gqa
        if ftype == "Q2_K":
            new = "Q4_K" if gqa >= 4 else "Q3_K"
        elif ftype == "Q2_K_S" and gqa >= 4:
            new = "Q4_K"
        elif ftype == "IQ3_XXS":
            new = "Q4_K" if gqa >= 4 else ("IQ3_XXS" if qs.has_imatrix else "IQ3_S")
        elif ftype in ("IQ3_XS", "IQ3_S") and gqa >= 4:
            new = "Q4_K"
        elif ftype == "IQ3_M":
            new = "Q4_K"
        elif ftype == "Q3_K_M":
            new = "Q5_K" if i < 2 else "Q4_K"
        elif ftype == "Q3_K_L":
            new = "Q5_K"
        elif ftype in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
            new = "Q5_K"
        elif ftype in ("Q4_K_M", "Q5_K_M") and _more_bits(i, n):
            new = "Q6_K"
        elif ftype == "Q4_K_S" and i < 4:
            new = "Q5_K"
        if a.is_llm_type_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if a.n_expert == 8:
            new = "Q8_0"
        qs.i_attention_wv += 1
        return new
    if cat == "attn_k":
        if a.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, new)
    if cat == "ffn_down":
        il, nl = layer_of(qs.i_ffn_down), qs.n_layer
        qs.i_ffn_down += 1
        if ftype == "Q2_K":
            return "Q3_K"
        if ftype == "Q2_K_S":
            return "Q4_K" if il < nl // 8 else new
        if ftype == "IQ3_XXS" and not qs.has_imatrix:
            return "Q4_K" if il < nl // 8 else "Q3_K"
        if ftype == "Q3_K_M":
            return "Q5_K" if il < nl // 16 else ("Q4_K" if arch != "falcon" or _more_bits(il, nl) else "Q3_K")
        if ftype == "IQ3_M" and (il < nl // 8 or (a.n_expert == 8 and _more_bits(il, nl))):
            return "Q4_K"
        if ftype == "IQ3_M":
            return new
        if ftype == "Q3_K_L":
            return "Q4_K" if arch == "falcon" else "Q5_K"
        if ftype == "Q4_K_M":
            if arch == "falcon":
                return "Q6_K" if il < nl // 16 else ("Q5_K" if _more_bits(il, nl) else "Q4_K")
            return "Q6_K" if _more_bits(il, nl) else new
        if il < nl // 8 and ftype in ("IQ4_NL", "IQ4_XS") and not qs.has_imatrix:
            return "Q5_K"
        if ftype == "Q5_K_M" and _more_bits(il, nl):
            return "Q6_K"
        if ftype == "Q4_K_S" and arch != "falcon" and il < nl // 8:
            return "Q5_K"
        if ftype in ("Q4_0", "Q5_0") and qs.has_imatrix and il < nl // 8:
            # "Guard against craziness in the first few ffn_down layers" (only with an imatrix)
            return "Q4_1" if ftype == "Q4_0" else "Q5_1"
        return new
    if cat == "attn_output":
        if arch != "falcon":
            if a.n_expert == 8:
                if ftype in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M",
                             "IQ3_S", "IQ3_M", "IQ4_XS"):
                    return "Q5_K"
                return new
            return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(ftype, new)
        return "Q4_K" if ftype == "Q3_K_L" else new
    if cat in ("ffn_gate", "ffn_up"):
        if cat == "ffn_gate":
            il = layer_of(qs.i_ffn_gate)
            qs.i_ffn_gate += 1
        else:
            il = layer_of(qs.i_ffn_up)
            qs.i_ffn_up += 1
        if ftype == "IQ3_XS" and qs.n_layer // 8 <= il < 7 * qs.n_layer // 8:
            return "IQ3_XXS"
        return new
    return new


def _fallback(t: TensorSpec, new: str) -> str:
    """tensor_type_fallback: a type whose block size divides the row length."""
    ncols = t.shape[0]
    if ncols % T[new].block_size == 0:
        return new
    ret = _FALLBACK.get(new, new)
    if ncols % T[ret].block_size != 0:
        ret = "F16"
    return ret


EXPERT_WEIGHTS = ("ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight")  # routed experts


def _released_quantized(arch: ModelArch, t: TensorSpec) -> bool:
    """An expert tensor a checkpoint was released in (ModelArch.expert_source_type: gpt-oss's MXFP4) keeps
    its type: llama-quantize refuses to requantize it without --allow-requantize ("requantizing from type
    mxfp4 is disabled", llama-quant.cpp), and the published K-quant files of gpt-oss keep MXFP4 experts
    (their Q8_0 120B is 63.4 GB, as the MXFP4 one: AlexsJones/llmfit PR #1059). A GGUF read from disk
    carries no such mark: its tensors are requantized as `llama-quantize --allow-requantize` does."""
    return bool(arch.expert_source_type) and t.ggml_type.name == arch.expert_source_type \
        and t.name.endswith(EXPERT_WEIGHTS)


def quantized_tensors(arch: ModelArch, tensors: Iterable[TensorSpec], ftype: str,
                      has_imatrix: bool | None = None) -> list[TensorSpec]:
    """The tensors as llama-quantize would write them for `ftype` (in loader order).

    `has_imatrix`: whether llama-quantize is given --imatrix (a few rules change with it); None means
    `default_has_imatrix(ftype)`. The tensors are the whole file, MTP blocks included: they are
    quantized too and count in the ffn_down / attn_v counters.
    """
    ftype = check_ftype(ftype)
    ordered = loader_order(tensors)
    default = DEFAULT_TYPE[ftype]
    qs = _State(arch, ordered, default_has_imatrix(ftype) if has_imatrix is None else has_imatrix)
    out = []
    for t in ordered:
        new_type = t.ggml_type.name
        if _allows_quantization(t) and not _released_quantized(arch, t):
            new_type = default
            if T[default].block_size > 1:  # ggml_is_quantized(default_type)
                new_type = _fallback(t, _impl(qs, default, t, ftype, _category(t.name)))
        out.append(TensorSpec(t.name, t.shape, T[new_type]))
    return out


GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT: every tensor's data starts on a 32-byte boundary


def data_bytes(tensors: Iterable[TensorSpec]) -> int:
    """Bytes of the GGUF data section: each tensor padded to the alignment (gguf.cpp gguf_add_tensor)."""
    return sum(-(-t.n_bytes // GGUF_ALIGNMENT) * GGUF_ALIGNMENT for t in tensors)


def ftypes_by_size(arch: ModelArch, tensors: Iterable[TensorSpec],
                   ftypes: Iterable[str] = SUPPORTED_FTYPES) -> list[tuple[str, int]]:
    """(file type, predicted data bytes), largest first: the order to try when looking for the
    best quantization that fits. Sizes, not names, decide: MXFP4_MOE is Q8_0 for a dense model,
    and row-size fallbacks can make a lower type as large as a higher one."""
    table = list(tensors)
    sizes = [(f, data_bytes(quantized_tensors(arch, table, f))) for f in ftypes]
    return sorted(sizes, key=lambda fs: -fs[1])
