"""The one builder of llama-server's command line: every setting heavylift passes -> argv.

Used by the planner's printed command (`LlamaArgs.from_plan`), `serve --plan` and the engine
launcher (`engines/launch.py`), so the three cannot disagree.

The user's own flags (`heavylift serve ... -- FLAGS`) win: every setting below is a group of the
spellings llama-server accepts for it (common/arg.cpp); when the user's flags use any spelling of
a group, heavylift leaves its own value for that group out and passes the user's flags unchanged
at the end. The tensor-placement overrides (`-ot`, `--n-cpu-moe`, `--cpu-moe`) form one group:
llama.cpp appends each of them to one ordered list where the first match wins, so mixing ours
with the user's would change what the user asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from heavylift.errors import UsageError

if TYPE_CHECKING:
    from heavylift.plan.planner import Plan

# group -> every spelling of it in common/arg.cpp (pinned 0c1e570)
SPELLINGS: dict[str, tuple[str, ...]] = {
    "model": ("-m", "--model"),
    "host": ("--host",),
    "port": ("--port",),
    "ctx": ("-c", "--ctx-size"),
    "parallel": ("-np", "--parallel"),
    "batch": ("-b", "--batch-size"),
    "ubatch": ("-ub", "--ubatch-size"),
    "flash_attn": ("-fa", "--flash-attn"),
    "cache_k": ("-ctk", "--cache-type-k"),
    "cache_v": ("-ctv", "--cache-type-v"),
    "gpu_layers": ("-ngl", "--gpu-layers", "--n-gpu-layers"),
    "tensor_split": ("-ts", "--tensor-split"),
    "kv_unified": ("-kvu", "--kv-unified"),
    "overrides": ("-ot", "--override-tensor", "-ncmoe", "--n-cpu-moe", "-cmoe", "--cpu-moe"),
    "fit": ("-fit", "--fit"),
    "metrics": ("--metrics",),
    "jinja": ("--jinja", "--no-jinja"),
    "alias": ("-a", "--alias"),
    "threads": ("-t", "--threads"),
    "slot_save_path": ("--slot-save-path",),
    "api_key": ("--api-key", "--api-key-file"),
    "verbosity": ("-lv", "--verbosity", "--log-verbosity", "-v", "--verbose", "--log-verbose"),
}
_GROUP_OF = {spelling: group for group, spellings in SPELLINGS.items() for spelling in spellings}
_VALUELESS = {"--metrics", "--jinja", "--no-jinja", "-v", "--verbose", "--log-verbose", "-cmoe", "--cpu-moe",
              "-kvu", "--kv-unified"}
_TRUTHY, _FALSEY, _AUTO = ("on", "enabled", "true", "1"), ("off", "disabled", "false", "0"), ("auto", "-1")


def groups_set_by(flags: list[str]) -> set[str]:
    """The setting groups a list of llama-server flags touches (`--flag value` or `--flag=value`)."""
    return {_GROUP_OF[a.split("=", 1)[0]] for a in flags if a.split("=", 1)[0] in _GROUP_OF}


@dataclass
class LlamaArgs:
    """Every llama-server setting heavylift passes; None / empty = llama.cpp's own default."""

    model_path: str
    ctx_size: int | None = None  # total KV cells, shared by all slots (-c)
    num_parallel: int | None = None  # slots (-np)
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    kv_type: str | None = None  # K and V cache type; None or "f16" = llama.cpp's default
    n_gpu_layers: int | None = None  # -1 = "auto", -2 = "all" (common/arg.cpp)
    is_kv_unified: bool = False
    tensor_split: list[str] = field(default_factory=list)
    tensor_overrides: list[tuple[str, str]] = field(default_factory=list)  # ("-ot", "RE=DEV") / ("--n-cpu-moe", "K"), in order
    is_fit_off: bool = True  # never let the engine shrink the context or move layers on its own
    host: str | None = None
    port: int | None = None
    is_metrics: bool = False
    is_jinja: bool = False
    alias: str | None = None
    num_threads: int | None = None
    slot_save_path: Path | None = None
    api_key: str | None = None
    log_verbosity: int | None = None
    extra_args: list[str] = field(default_factory=list)  # the user's own flags: they win (module docstring)

    def argv(self, binary: str = "llama-server") -> list[str]:
        """The exact command line (also printed, so users can reproduce it by hand)."""
        chunks: list[tuple[str, list[str]]] = [("model", ["-m", self.model_path])]

        def opt(group: str, flag: str, value: object) -> None:
            if value is not None:
                chunks.append((group, [flag, str(value)]))

        opt("host", "--host", self.host)
        opt("port", "--port", self.port)
        opt("ctx", "-c", self.ctx_size)
        opt("parallel", "-np", self.num_parallel)
        if self.is_metrics:
            chunks.append(("metrics", ["--metrics"]))
        if self.is_jinja:
            chunks.append(("jinja", ["--jinja"]))
        opt("batch", "-b", self.n_batch)
        opt("ubatch", "-ub", self.n_ubatch)
        if self.flash_attn is not None:
            opt("flash_attn", "-fa", "on" if self.flash_attn else "off")
        if self.kv_type and self.kv_type != "f16":
            opt("cache_k", "-ctk", self.kv_type)
            opt("cache_v", "-ctv", self.kv_type)
        if self.is_kv_unified:
            chunks.append(("kv_unified", ["-kvu"]))
        opt("gpu_layers", "-ngl", {-1: "auto", -2: "all"}.get(self.n_gpu_layers or 0, self.n_gpu_layers))
        if self.tensor_split:
            opt("tensor_split", "--tensor-split", ",".join(self.tensor_split))
        for flag, value in self.tensor_overrides:
            chunks.append(("overrides", [flag] + ([value] if value else [])))
        if self.is_fit_off:
            chunks.append(("fit", ["--fit", "off"]))
        opt("alias", "--alias", self.alias)
        opt("threads", "-t", self.num_threads)
        opt("slot_save_path", "--slot-save-path", self.slot_save_path)
        # api_key is never put on argv (readable by every local user in `ps`): LlamaServer passes it
        # in the child's environment as LLAMA_API_KEY (engines/credentials.py).
        opt("verbosity", "-lv", self.log_verbosity)
        users = groups_set_by(self.extra_args)
        out = [binary]
        for group, words in chunks:
            if group not in users:
                out += words
        return out + list(self.extra_args)

    @classmethod
    def parse(cls, argv: list[str]) -> tuple[LlamaArgs, list[str]]:
        """Read a llama-server command line (the inverse of `argv`): the settings it sets, and the
        words of the flags this class does not model (kept in order, with their values)."""
        out, other, kv = cls(model_path=""), [], {}
        i = 0
        while i < len(argv):
            word = argv[i]
            flag = word.replace("_", "-") if word.startswith("--") else word  # as common/arg.cpp reads it
            group = _GROUP_OF.get(flag)
            if group is None:
                has_value = i + 1 < len(argv) and not _is_flag(argv[i + 1])
                other += argv[i:i + 1 + has_value]
                i += 1 + has_value
                continue
            if flag in _VALUELESS:
                value, i = "", i + 1
            elif i + 1 < len(argv):
                value, i = argv[i + 1], i + 2
            else:
                raise UsageError(f"llama-server flag {word} needs a value")
            if group in ("cache_k", "cache_v"):
                kv[group] = value.lower()
            elif group == "overrides":
                out.tensor_overrides.append(("-ot" if flag in ("-ot", "--override-tensor") else
                                             "--n-cpu-moe" if flag in ("-ncmoe", "--n-cpu-moe") else "--cpu-moe", value))
            else:
                _set(out, group, flag, value)
        if kv:
            if len(set(kv.values())) > 1:
                raise UsageError(f"-ctk {kv['cache_k']} and -ctv {kv['cache_v']} differ; heavylift plans one KV "
                                 "cache type for K and V: give the same to both")
            out.kv_type = next(iter(kv.values()))
        return out, other

    @classmethod
    def from_plan(cls, plan: Plan) -> LlamaArgs:
        """The settings that realise a plan: context, batches, KV type and the placement."""
        cfg, flags = plan.context, plan.placement.flags
        return cls(
            model_path=plan.model_path, ctx_size=cfg.ctx, num_parallel=cfg.n_parallel, n_batch=cfg.n_batch,
            n_ubatch=cfg.n_ubatch, flash_attn=cfg.flash_attn, kv_type=cfg.kv_type,
            n_gpu_layers=flags.n_gpu_layers,  # None (your flags without -ngl): llama-server's default
            tensor_split=[_share(x) for x in flags.tensor_split or ()],
            tensor_overrides=list(flags.override_args))


def _is_flag(word: str) -> bool:
    return word.startswith("-") and not word.lstrip("-").replace(".", "", 1).isdigit()


def _int(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"llama-server flag {flag} {value!r}: not a whole number") from None


def _set(out: LlamaArgs, group: str, flag: str, value: str) -> None:
    """One parsed setting onto `out` (the groups of SPELLINGS that are not lists)."""
    if group == "flash_attn":
        low = value.lower()
        if low not in _TRUTHY + _FALSEY + _AUTO:
            raise UsageError(f"{flag} {value!r}: use on, off or auto")
        out.flash_attn = None if low in _AUTO else low in _TRUTHY
    elif group == "gpu_layers":
        out.n_gpu_layers = {"auto": -1, "all": -2}.get(value.lower()) or _int(flag, value)
    elif group == "tensor_split":
        out.tensor_split = [x for x in re.split(r"[,/]+", value) if x]  # common/arg.cpp splits at , and /
    elif group == "fit":
        out.is_fit_off = value.lower() in _FALSEY
    elif group in ("metrics", "jinja", "kv_unified"):
        setattr(out, {"metrics": "is_metrics", "jinja": "is_jinja", "kv_unified": "is_kv_unified"}[group],
                flag != "--no-jinja")
    elif group == "verbosity":
        out.log_verbosity = _int(flag, value) if value else 4
    else:
        field_name, convert = {
            "model": ("model_path", str), "host": ("host", str), "port": ("port", int), "ctx": ("ctx_size", int),
            "parallel": ("num_parallel", int), "batch": ("n_batch", int), "ubatch": ("n_ubatch", int),
            "alias": ("alias", str), "threads": ("num_threads", int), "slot_save_path": ("slot_save_path", Path),
            "api_key": ("api_key", str)}[group]
        setattr(out, field_name, _int(flag, value) if convert is int else convert(value))


def _share(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
