"""Token-level comparison with llama.cpp's llama-perplexity (tools/perplexity/perplexity.cpp):
`--kl-divergence-base FILE` on the reference scores a text and saves its log-probabilities, then
`--kl-divergence` on the candidate reads them and reports the perplexity of both, the KL divergence
per token (mean, percentiles) and how often both put the same token on top ("Same top p").

The saved file is reused: it is keyed by the reference file, the text, the context and the chunk
cap. Its size is known exactly once llama-perplexity has counted the chunks (see `logits_bytes`),
and is said, and checked against free disk, before any log-probabilities are written."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from heavylift import paths
from heavylift.errors import HeavyliftError, ModelError, UsageError
from heavylift.models.llama_tools import Progress, ToolError, perplexity_command, run_tool


@dataclass
class KLDResult:
    reference_model: str
    candidate_model: str
    is_stand_in: bool  # the reference for KLD is a higher-bit quant standing in for the real reference
    text: str
    ctx: int
    num_chunks: int
    num_tokens_scored: int  # chunks x (ctx - 1 - ctx/2): the second half of each chunk is scored
    ppl_candidate: float
    ppl_reference: float
    ppl_ratio: float  # Mean PPL(Q)/PPL(base)
    kld_mean: float
    kld_p99: float
    kld_max: float
    top1_agreement: float  # "Same top p" as a fraction
    logits_bytes: int
    logits_path: str
    source: str = "llama-perplexity --kl-divergence (tools/perplexity/perplexity.cpp, kl_divergence)"


# -- vocabularies ------------------------------------------------------------------------------------
@dataclass
class Vocab:
    model: str | None  # tokenizer.ggml.model
    pre: str | None  # tokenizer.ggml.pre
    tokens: list[str]


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_vocab(path: Path) -> Vocab:
    """The tokenizer.* keys of a GGUF header (GGUF v2/v3 layout, ggml/src/gguf.cpp), tokens in full."""
    wanted = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens"}
    found: dict[str, object] = {}
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"{path} is not a GGUF file")
            version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise ModelError(f"{path}: GGUF version {version} is too old")

            def string() -> str:
                (n,) = struct.unpack("<Q", f.read(8))
                return f.read(n).decode("utf-8", "replace")

            def value(vtype: int, keep: bool):
                if vtype == 8:
                    return string()
                if vtype == 9:
                    item_type, n = struct.unpack("<IQ", f.read(12))
                    if item_type in _SCALARS and not keep:
                        f.seek(struct.calcsize(_SCALARS[item_type]) * n, 1)
                        return None
                    return [value(item_type, keep) for _ in range(n)]
                fmt = _SCALARS[vtype]
                return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

            for _ in range(n_kv):
                key = string()
                (vtype,) = struct.unpack("<I", f.read(4))
                v = value(vtype, key in wanted)
                if key in wanted:
                    found[key] = v
                    if len(found) == len(wanted):
                        break
    except (OSError, struct.error, KeyError) as e:
        raise ModelError(f"cannot read the vocabulary of {path} ({e})") from None
    return Vocab(found.get("tokenizer.ggml.model"), found.get("tokenizer.ggml.pre"),  # type: ignore[arg-type]
                 list(found.get("tokenizer.ggml.tokens") or []))  # type: ignore[arg-type]


def check_same_vocab(candidate: Path, reference: Path) -> None:
    """KLD compares distributions over token ids: both models must mean the same thing by each id."""
    c, r = read_vocab(candidate), read_vocab(reference)
    if c.tokens == r.tokens and c.model == r.model:
        return
    what = []
    if c.model != r.model:
        what.append(f"tokenizer {c.model} vs {r.model}")
    if len(c.tokens) != len(r.tokens):
        what.append(f"{len(c.tokens)} vs {len(r.tokens)} tokens")
    for i, (a, b) in enumerate(zip(c.tokens, r.tokens, strict=False)):
        if a != b:
            what.append(f"token {i} is {a!r} vs {b!r}")
            break
    raise UsageError(f"--kld needs the same vocabulary on both sides, but {candidate.name} and {reference.name} differ: "
                     f"{'; '.join(what)}; compare a quant with its own original (or a quant of it)")


# -- the saved reference log-probabilities -----------------------------------------------------------
def logits_bytes(n_vocab: int, n_ctx: int, n_chunk: int) -> int:
    """Size of llama-perplexity's --kl-divergence-base file (perplexity.cpp, perplexity() and
    process_logits): "_logits_" + n_ctx + n_vocab + n_chunk (4 B each), the tokens (4 B each), then
    per chunk, for its last n_ctx - 1 - n_ctx/2 tokens, nv = 2*((n_vocab+1)/2) + 4 uint16 values
    (a scale, a minimum and the vocabulary's log-probs quantized to 16 bits)."""
    nv = 2 * ((n_vocab + 1) // 2) + 4
    return 8 + 4 + 4 + 4 + 4 * n_ctx * n_chunk + 2 * nv * (n_ctx - 1 - n_ctx // 2) * n_chunk


def _file_identity(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def base_path(reference: Path, text: Path, ctx: int, max_chunks: int) -> Path:
    h = hashlib.sha256()
    h.update(_file_identity(reference).encode())
    h.update(hashlib.sha256(text.read_bytes()).digest())
    h.update(f"|{ctx}|{max_chunks}".encode())
    return paths.cache_dir() / "kld" / f"{reference.stem}-{h.hexdigest()[:16]}.logits"


_CHUNKS = re.compile(r"over (\d+) chunks, n_ctx=(\d+)")
_TOO_SHORT = re.compile(r"tokenizes to only (\d+) tokens")
_ETA = re.compile(r"([\d.]+) seconds per pass - ETA (?:(\d+) hours )?([\d.]+) minutes")
_CHUNK_ROW = re.compile(r"^\s*(\d+)\s+[\d.]+\s+±")
_STATS = {
    "ppl_candidate": re.compile(r"Mean PPL\(Q\)\s+:\s+([\d.]+)"),
    "ppl_reference": re.compile(r"Mean PPL\(base\)\s+:\s+([\d.]+)"),
    "ppl_ratio": re.compile(r"Mean PPL\(Q\)/PPL\(base\)\s+:\s+([\d.]+)"),
    "kld_mean": re.compile(r"Mean\s+KLD:\s+([-\d.]+)"),
    "kld_p99": re.compile(r"99\.0%\s+KLD:\s+([-\d.]+)"),
    "kld_max": re.compile(r"Maximum KLD:\s+([-\d.]+)"),
    "top1_agreement": re.compile(r"Same top p:\s+([\d.]+)"),
}


def ensure_base(reference: Path, text: Path, ctx: int, max_chunks: int, say: Callable[[str], None]) -> tuple[Path, int]:
    """The reference's saved log-probs for `text` (computed once); returns (path, chunks)."""
    from heavylift.cli.common import human_bytes
    from heavylift.setup.engine_build import current_engine

    out = base_path(reference, text, ctx, max_chunks)
    meta_path = out.with_suffix(".json")
    if out.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        say(f"verify: reusing the reference log-probs {out} ({meta['chunks']} chunks, {human_bytes(out.stat().st_size)})")
        return out, int(meta["chunks"])
    n_vocab = len(read_vocab(reference).tokens)
    per_chunk = logits_bytes(n_vocab, ctx, 1) - logits_bytes(n_vocab, ctx, 0)
    upper = min(max_chunks, max(1, text.stat().st_size // ctx))  # a token is at least one byte of text
    say(f"verify: reference log-probs of {reference.name} over {text.name}: {human_bytes(per_chunk)} per chunk of {ctx} "
        f"tokens (n_vocab {n_vocab}), at most {upper} chunks = {human_bytes(logits_bytes(n_vocab, ctx, upper))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    cmd = perplexity_command(current_engine().binary("llama-perplexity"), reference, ctx=ctx, logits=tmp,
                             text=text, max_chunks=max_chunks)
    say(f"verify: {' '.join(cmd)}")
    state: dict[str, int] = {}

    def on_line(line: str) -> None:
        if m := _CHUNKS.search(line):
            n = state["chunks"] = int(m[1])
            size = logits_bytes(n_vocab, ctx, n)
            free = shutil.disk_usage(out.parent).free
            say(f"verify: writing {n} chunks of reference log-probs: {human_bytes(size)} "
                f"({human_bytes(free)} free in {out.parent})")
            if size > free:
                raise UsageError(f"the reference log-probs need {human_bytes(size)} but {out.parent} has "
                                 f"{human_bytes(free)} free; lower --kld-chunks or free some space")
        elif m := _TOO_SHORT.search(line):
            state["too_short"] = int(m[1])
        elif m := _ETA.search(line):  # printed after the first pass, with the estimate for all passes
            left = 60 * (float(m[3]) + 60 * int(m[2] or 0)) - float(m[1])
            say(f"verify: reference {float(m[1]):.1f} s per pass of up to {_n_seq(ctx)} chunks, "
                f"ETA {max(0.0, left):.0f} s (from llama-perplexity's estimate)")

    try:
        run_tool(cmd, _log("kld-base"), on_line, what="llama-perplexity")
        if "too_short" in state:
            raise UsageError(f"--kld {text} is too short: {state['too_short']} tokens, but llama-perplexity needs at "
                             f"least {2 * ctx} (2 x --kld-ctx {ctx}); give a longer text or a smaller --kld-ctx")
        expected = logits_bytes(n_vocab, ctx, state.get("chunks", 0))
        if not tmp.is_file() or tmp.stat().st_size != expected:
            raise HeavyliftError(f"llama-perplexity wrote {tmp.stat().st_size if tmp.exists() else 0} bytes of "
                                 f"reference log-probs, expected {expected}; see the log in {paths.logs_dir()}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    meta_path.write_text(json.dumps({"reference": str(reference.resolve()), "text": str(text.resolve()), "ctx": ctx,
                                     "chunks": state["chunks"], "n_vocab": n_vocab, "bytes": out.stat().st_size,
                                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    return out, state["chunks"]


def _n_seq(ctx: int) -> int:
    """Chunks per pass: perplexity.cpp main sets n_parallel = max(1, n_batch / n_ctx), n_batch 2048 by default."""
    return max(1, 2048 // ctx)


def compare(candidate: Path, reference: Path, text: Path, *, ctx: int, max_chunks: int, is_stand_in: bool,
            candidate_name: str, reference_name: str, text_label: str, say: Callable[[str], None]) -> KLDResult:
    """Run the KLD comparison (the reference's side computed once and cached)."""
    from heavylift.setup.engine_build import current_engine

    check_same_vocab(candidate, reference)
    base, n_chunks = ensure_base(reference, text, ctx, max_chunks, say)
    cmd = perplexity_command(current_engine().binary("llama-perplexity"), candidate, ctx=ctx, logits=base)
    say(f"verify: {' '.join(cmd)}")
    progress = Progress(say, f"verify: KLD of {candidate_name}", "chunks")
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if m := _CHUNK_ROW.match(line):
            progress.update(int(m[1]) / n_chunks, int(m[1]), n_chunks)

    try:
        run_tool(cmd, _log("kld"), on_line, what="llama-perplexity --kl-divergence")
    except ToolError as e:
        raise HeavyliftError(f"the KLD run on {candidate_name} failed: {e}") from None
    values: dict[str, float] = {}
    for line in lines:
        for key, pattern in _STATS.items():
            if key not in values and (m := pattern.search(line)):
                values[key] = float(m[1])
    missing = [k for k in _STATS if k not in values]
    if missing:
        raise HeavyliftError(f"llama-perplexity printed no {', '.join(missing)} (fewer than 100 tokens scored?); "
                             f"see the log in {paths.logs_dir()}")
    values["top1_agreement"] /= 100
    say(f"verify: KLD of {candidate_name} done in {progress.elapsed_s:.1f} s")
    return KLDResult(reference_model=reference_name, candidate_model=candidate_name, is_stand_in=is_stand_in,
                     text=text_label, ctx=ctx, num_chunks=n_chunks, num_tokens_scored=n_chunks * (ctx - 1 - ctx // 2),
                     logits_bytes=base.stat().st_size, logits_path=str(base), **values)


def _log(stem: str) -> Path:
    return paths.logs_dir() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.log"
