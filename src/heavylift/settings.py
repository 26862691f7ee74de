"""Every environment variable heavylift reads: one table, one meaning each, read only here.

A variable is for a setting a person keeps across commands (where things live, which engine and
model, serving settings, keys). What one command works on — its files, questions, job names,
output files — has no variable: `HEAVYLIFT_OUT` once meant both `results --out` and `models
upcycle --out`, and overwrote a CSV with a GGUF. An option gets a variable only when it is listed
in `options` below (so a new option has none until someone decides what it means here).

Values are checked for their type when read: `HEAVYLIFT_DEBUG=maybe` is refused with a one-line
error naming the variable, never read as false. A `HEAVYLIFT_*` variable that is not in the table
is refused too (a typo or a retired name would otherwise be ignored in silence).
docs/configuration.md is generated from this table (tests/test_settings.py keeps them equal).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heavylift.errors import UsageError

PREFIX = "HEAVYLIFT_"


class SettingError(UsageError):
    """An environment variable with a value that is not valid for its type."""


# -- value types: each returns the value or raises ValueError with what is wrong -----------------
def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("is empty")
    return raw


def _path(raw: str) -> Path:
    return Path(_text(raw)).expanduser()


def parse_positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def parse_port(raw: str) -> int:
    value = parse_positive_int(raw)
    if value > 65535:
        raise ValueError("is not a port (1-65535)")
    return value


def parse_positive_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a number greater than zero")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("is not a yes/no value (use 1/0, true/false, yes/no or on/off)")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    parse.__name__ = "one of " + ", ".join(choices)
    return parse


# llama.cpp's KV cache types (common/arg.cpp kv_cache_types, pinned 0c1e570)
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")

_KIND_WORDS: dict[Callable[[str], Any], str] = {
    _text: "text", _path: "path", parse_positive_int: "whole number > 0", parse_port: "port (1-65535)",
    parse_positive_float: "number > 0", _bool: "yes/no (1/0, true/false, yes/no, on/off)",
}


@dataclass(frozen=True)
class Variable:
    """One environment variable: its one meaning, its type, and the options it is the default of."""

    name: str
    meaning: str
    parse: Callable[[str], Any] = _text
    options: tuple[str, ...] = ()  # "COMMAND --option" (or "COMMAND DEST" for a positional)
    is_secret: bool = False  # never printed back in an error
    group: str = "settings"

    @property
    def kind(self) -> str:
        return _KIND_WORDS.get(self.parse) or self.parse.__name__


VARIABLES: tuple[Variable, ...] = (
    # where things live (heavylift/paths.py)
    Variable("HEAVYLIFT_HOME", "one folder for everything: cache/ and data/ below it", _path, group="paths"),
    Variable("HEAVYLIFT_CACHE_DIR", "engine builds, downloads and model files (large, re-creatable); "
             "default ~/.cache/heavylift ($XDG_CACHE_HOME)", _path, group="paths"),
    Variable("HEAVYLIFT_DATA_DIR", "the database, engine logs, saved KV slots, results (what must survive); "
             "default ~/.local/share/heavylift ($XDG_DATA_HOME)", _path, group="paths"),
    Variable("XDG_CACHE_HOME", "the XDG cache folder (heavylift/ below it), when HEAVYLIFT_CACHE_DIR and "
             "HEAVYLIFT_HOME are unset", _path, group="paths"),
    Variable("XDG_DATA_HOME", "the XDG data folder (heavylift/ below it), when HEAVYLIFT_DATA_DIR and "
             "HEAVYLIFT_HOME are unset", _path, group="paths"),
    # the engine
    Variable("HEAVYLIFT_LLAMA_SERVER", "run this llama-server binary instead of the one `heavylift setup` "
             "recorded (its folder's llama-quantize, llama-bench, ... too)", _path, group="engine"),
    Variable("HEAVYLIFT_BACKEND", "the engine backend `heavylift setup` builds",
             _choice("auto", "cpu", "cuda", "metal"), ("setup --backend",), group="engine"),
    Variable("HEAVYLIFT_VLLM_PYTHON", "the Python of an existing vLLM install for `serve --engine vllm` (else "
             "heavylift installs vLLM's CPU build into its cache on first use)", _path, group="engine"),
    Variable("VLLM_CPU_KVCACHE_SPACE", "GiB of KV cache for vLLM's CPU build (vLLM's own variable; heavylift sizes "
             "it from the context when unset)", parse_positive_int, group="engine"),
    Variable("HEAVYLIFT_THREADS", "CPU threads for the engine heavylift starts (llama.cpp -t)", parse_positive_int,
             ("serve --threads", "run-batch --threads"), group="engine"),
    # what to run and how (each the same meaning in every command that lists it)
    Variable("HEAVYLIFT_MODEL", "the model to use when none is named: a stored name or a .gguf path",
             _text, ("serve model", "ask --model", "analyze --model", "run-batch --model"), group="serving"),
    Variable("HEAVYLIFT_CTX", "context size in tokens, the total shared by all slots (llama.cpp -c)",
             parse_positive_int, ("serve --ctx", "ask --ctx", "analyze --ctx", "plan --ctx", "run-batch --ctx", "verify --ctx"),
             group="serving"),
    Variable("HEAVYLIFT_PARALLEL", "parallel sequences / engine slots (llama.cpp -np)", parse_positive_int,
             ("serve --parallel", "analyze --parallel", "plan --parallel", "run-batch --parallel",
              "verify --parallel"), group="serving"),
    Variable("HEAVYLIFT_KV_TYPE", "KV cache type for K and V (llama.cpp -ctk/-ctv)", _choice(*KV_CACHE_TYPES),
             ("serve --kv-type", "ask --kv-type", "analyze --kv-type", "plan --kv-type"), group="serving"),
    Variable("HEAVYLIFT_HW", "the hardware to plan for: 'local' or a spec like \"2x rtx-5090, 256GB\"", _text,
             ("plan --hw", "serve --hw"), group="serving"),
    Variable("HEAVYLIFT_HOST", "the address `serve` binds (anything but loopback needs a key)", _text,
             ("serve --host",), group="serving"),
    Variable("HEAVYLIFT_PORT", "the port `serve` listens on", parse_port, ("serve --port",), group="serving"),
    Variable("HEAVYLIFT_MAX_TOKENS", "the longest answer, in tokens", parse_positive_int,
             ("ask --max-tokens", "analyze --max-tokens"), group="serving"),
    Variable("HEAVYLIFT_TIMEOUT", "seconds to wait for one answer", parse_positive_float, ("ask --timeout",),
             group="serving"),
    # keys (heavylift/engines/credentials.py): the key serve requires and the key clients send are
    # separate settings; the OpenAI names are the ecosystem's convention, read after heavylift's own
    Variable("HEAVYLIFT_SERVE_API_KEY", "the key `serve` requires from its clients (or `serve --api-key-file`)",
             _text, is_secret=True, group="keys"),
    Variable("HEAVYLIFT_API_KEY", "the key `ask`, `analyze` and `run-batch` send to --endpoint (after --api-key)",
             _text, is_secret=True, group="keys"),
    Variable("OPENAI_API_KEY", "the key clients send when neither --api-key nor HEAVYLIFT_API_KEY is given",
             _text, is_secret=True, group="keys"),
    Variable("OPENAI_BASE_URL", "the endpoint `ask`, `analyze` and `run-batch` use when --endpoint is not given "
             "(instead of starting an engine)", _text, group="keys"),
    Variable("HEAVYLIFT_REFERENCE_API_KEY", "the key `verify` sends to --reference-endpoint (else OPENAI_API_KEY)",
             _text, is_secret=True, group="keys"),
    Variable("LLAMA_API_KEY", "the engine's key for the stand-alone gateway (`python -m heavylift.gateway.front`); "
             "heavylift passes its engines their key this way, never on argv", _text, is_secret=True, group="keys"),
    # diagnostics
    Variable("HEAVYLIFT_DEBUG", "show the traceback of an internal error instead of one line", _bool,
             group="diagnostics"),
    # read by the test suite only (listed so that a run with it set is not refused)
    Variable("HEAVYLIFT_SCREENSHOTS", "tests: keep the dashboard browser test's screenshots in this folder", _path,
             group="tests"),
)

BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}
BY_OPTION: dict[str, Variable] = {opt: v for v in VARIABLES for opt in v.options}

# Names that were read once and mean nothing now, with what to do instead.
RETIRED: dict[str, str] = {
    "HEAVYLIFT_OUT": "it meant both `results --out` and `models upcycle --out`; pass --out FILE to the command",
    "HEAVYLIFT_NAME": "it meant both a job name and a model name; pass --name to the command",
    "HEAVYLIFT_ASK": "a question is not a setting; pass --ask QUESTION (or --questions FILE)",
}


def raw(name: str) -> str | None:
    """The variable's text as set (None: unset). Only for names in the table."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not in heavylift.settings.VARIABLES")
    return os.environ.get(name)


def get(name: str, default: Any = None) -> Any:
    """The variable's value, parsed for its type; `default` when unset or empty (shells often
    export an empty one)."""
    var = BY_NAME.get(name)
    if var is None:
        raise KeyError(f"{name} is not in heavylift.settings.VARIABLES")
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return var.parse(text)
    except ValueError as e:
        shown = "(hidden)" if var.is_secret else repr(text)
        raise SettingError(f"{name}={shown} {e}; fix or unset it (see docs/configuration.md)") from None


def is_debug() -> bool:
    """HEAVYLIFT_DEBUG, without raising: an invalid value must not hide the error being reported."""
    try:
        return bool(get("HEAVYLIFT_DEBUG", False))
    except SettingError:
        return False


def check_environment() -> None:
    """Refuse HEAVYLIFT_* variables the table does not list, and check every listed one's value."""
    for name in sorted(os.environ):
        if not name.startswith(PREFIX):
            continue
        if name in RETIRED:
            raise SettingError(f"{name} is no longer read: {RETIRED[name]}; unset it")
        if name not in BY_NAME:
            import difflib

            close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingError(f"{name} is not a heavylift variable{hint}; rename or unset it "
                               "(the variables: docs/configuration.md)")
        get(name)


def option_key(command: str, action_name: str) -> str:
    return f"{command} {action_name}"


def table_markdown() -> str:
    """docs/configuration.md's tables, generated (so the docs cannot drift from the code)."""
    lines = ["| variable | meaning | type | sets the default of |", "|---|---|---|---|"]
    for v in VARIABLES:
        opts = ", ".join(f"`{o}`" for o in v.options) or "-"
        meaning = v.meaning.replace("|", "\\|") + (" (a secret: never printed back)" if v.is_secret else "")
        lines.append(f"| `{v.name}` | {meaning} | {v.kind} | {opts} |")
    lines += ["", "Refused if set (no longer read):", "", "| variable | why, and what instead |", "|---|---|"]
    lines += [f"| `{name}` | {why} |" for name, why in RETIRED.items()]
    return "\n".join(lines) + "\n"
