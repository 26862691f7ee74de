"""What a bench run measures: the settings, and the configurations (prompt x depth x concurrency)
they expand to, in the order they run."""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field

from heavylift.errors import UsageError

_TOKENS = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmM]?)$")
SAMPLINGS = ("greedy", "default")
_OLD_SAMPLING = {"server": "default"}  # the name runs stored before "default" carry


def parse_tokens(text: str, what: str) -> int:
    """'512' -> 512, '4k' -> 4096, '1.5k' -> 1536, '1m' -> 1048576 (binary k, as llama.cpp's -c 4k users mean)."""
    m = _TOKENS.match(text.strip())
    if not m:
        raise UsageError(f"{what}: {text.strip()!r} is not a token count; use numbers like 512, 4k, 16k")
    value = float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if value != int(value):
        raise UsageError(f"{what}: {text.strip()!r} is not a whole number of tokens")
    return int(value)


def parse_list(text: str, what: str, allow_zero: bool = False) -> list[int]:
    """A comma-separated list of token counts or counts; duplicates dropped, order kept."""
    items = [t for t in (text or "").split(",")]
    if not text or not text.strip() or any(not t.strip() for t in items):
        raise UsageError(f"{what}: {text!r} is not a list; give comma-separated numbers like 1,2,4")
    values = []
    for t in items:
        v = parse_tokens(t, what)
        if v < 0 or (v == 0 and not allow_zero):
            raise UsageError(f"{what}: {t.strip()!r} must be greater than zero")
        if v not in values:
            values.append(v)
    return values


@dataclass(frozen=True)
class BenchConfig:
    """One measured configuration: `prompt_tokens` computed after `depth` tokens already in the
    cache, then `gen_tokens` decoded, by `concurrency` requests at once."""

    prompt_tokens: int
    depth: int
    concurrency: int
    gen_tokens: int

    @property
    def label(self) -> str:
        return f"p{self.prompt_tokens}/d{self.depth}/c{self.concurrency}"

    @property
    def tokens_per_sequence(self) -> int:
        """Cells one sequence occupies: the depth prefix, the prompt, the generated tokens."""
        return self.depth + self.prompt_tokens + self.gen_tokens


@dataclass
class BenchSettings:
    prompt_lengths: list[int] = field(default_factory=lambda: [512])
    gen_tokens: int = 128
    depths: list[int] = field(default_factory=lambda: [0])
    concurrency: list[int] = field(default_factory=lambda: [1])
    repeats: int = 3
    warmup: int = 1  # requests before the first configuration, not counted
    is_cache: bool = False  # --cache: let the engine reuse cached prompt prefixes
    sampling: str = "greedy"  # greedy (top-k 1: no sampler cost, as llama-bench) | default (the engine's chain)
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.gen_tokens < 2:
            raise UsageError("--gen must be at least 2 (decode speed needs two tokens' timestamps)")
        if self.repeats < 1:
            raise UsageError("--repeats must be at least 1")
        self.sampling = _OLD_SAMPLING.get(self.sampling, self.sampling)
        if self.sampling not in SAMPLINGS:
            raise UsageError(f"--sampling must be one of {', '.join(SAMPLINGS)}")

    def configs(self) -> list[BenchConfig]:
        """Depth outermost (a depth prefix is filled once per depth), then concurrency, then prompt."""
        return [BenchConfig(p, d, c, self.gen_tokens)
                for d, c, p in itertools.product(self.depths, self.concurrency, self.prompt_lengths)]

    @property
    def tokens_per_sequence(self) -> int:
        return max(c.tokens_per_sequence for c in self.configs())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BenchSettings:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
