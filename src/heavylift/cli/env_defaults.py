"""Option defaults from the environment, for exactly the options heavylift.settings lists.

`serve --ctx` takes HEAVYLIFT_CTX because the table says so (one meaning: the total context);
an option the table does not list has no variable. Each listed option's --help names its variable.
"""

from __future__ import annotations

import argparse

from heavylift import settings

_SKIP = {"help", "version", "command", "func"}


def option_names(parser: argparse.ArgumentParser, command: str = "") -> dict[str, argparse.Action]:
    """Every option of every (sub)command as "COMMAND --long-option" (positionals: "COMMAND dest")."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(option_names(sub, f"{command} {name}".strip()))
            continue
        if action.dest in _SKIP or action.dest == argparse.SUPPRESS:
            continue
        found[settings.option_key(command, _spelling(action))] = action
    return found


def _spelling(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.dest
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings)[0]


def apply_env_defaults(parser: argparse.ArgumentParser) -> None:
    """Set each listed option's default from its variable (the command line still wins)."""
    for key, action in option_names(parser).items():
        var = settings.BY_OPTION.get(key)
        if var is None:
            continue
        if action.help and action.help != argparse.SUPPRESS and var.name not in action.help:
            action.help += f" [env: {var.name}]"
        value = settings.get(var.name)
        if value is None:
            continue
        if isinstance(action, argparse._AppendAction):
            value = [value]
        action.default = value
        action.required = False
