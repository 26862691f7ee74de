"""Every option can come from the environment: `--ctx` is HEAVYLIFT_CTX, `--api-key` HEAVYLIFT_API_KEY."""

from __future__ import annotations

import argparse
import os

from heavylift.errors import UsageError

_SKIP = {"help", "version", "command", "func"}


def env_name(dest: str) -> str:
    return "HEAVYLIFT_" + dest.upper()


def apply_env_defaults(parser: argparse.ArgumentParser) -> None:
    """Set each option's default from its HEAVYLIFT_* variable (the command line still wins)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_env_defaults(sub)
            continue
        if action.dest in _SKIP or action.dest == argparse.SUPPRESS:
            continue
        if not action.option_strings and action.nargs not in ("?", "*"):
            continue  # required positionals come from the command line
        var = env_name(action.dest)
        if action.help and action.help != argparse.SUPPRESS and var not in action.help:
            action.help += f" [env: {var}]"
        raw = os.environ.get(var)
        if raw is None:
            continue
        action.default = _convert(action, raw, var)
        action.required = False


def _convert(action: argparse.Action, raw: str, var: str):
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        truthy = raw.strip().lower() in ("1", "true", "yes", "on")
        return truthy if isinstance(action, argparse._StoreTrueAction) else not truthy
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        items = [x for x in raw.split(",") if x]
        return [_one(action, x, var) for x in items]
    return _one(action, raw, var)


def _one(action: argparse.Action, raw: str, var: str):
    try:
        value = action.type(raw) if action.type else raw
    except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
        raise UsageError(f"{var}={raw!r} is not valid ({e}); fix or unset it") from None
    if action.choices is not None and value not in action.choices:
        raise UsageError(f"{var}={raw!r} must be one of {', '.join(map(str, action.choices))}")
    return value
