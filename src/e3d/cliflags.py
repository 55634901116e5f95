"""The one way the workflow turns settings into `e3d` command-line flags.

Every rule that passes config values to a subcommand builds its flags here, so each value is shell-quoted the same
way and parses back to the value the config holds:

- a key `batch_size` becomes `--batch-size`;
- None leaves the flag out (the subcommand's default applies);
- True gives the bare flag (`--quiet`), False leaves it out (argparse `store_true` flags);
- a list or tuple is joined with commas (`--channels 16,32`), the form the subcommands split;
- a dict is JSON with sorted keys (`--settings '{"epochs": 1}'`), so the command line is stable;
- anything else is `str(value)`.

Each value is quoted with shlex.quote, so spaces and shell characters reach the subcommand unchanged.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Iterable, Mapping


def flag_name(key: str) -> str:
    """`batch_size` -> `--batch-size`."""
    return "--" + key.replace("_", "-")


def flag_value(value: Any) -> str:
    """The text a value is passed as (unquoted); see the module docstring."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (list, tuple)):
        return ",".join(flag_value(v) for v in value)
    return str(value)


def quote_value(value: Any) -> str:
    """One value as a shell word, for a rule whose shell names the flag itself (`--settings {params.settings}`)."""
    return shlex.quote(flag_value(value))


def to_flags(settings: Mapping[str, Any] | Iterable[tuple[str, Any]], *, sort: bool = False) -> str:
    """`--key value ...` for a mapping (in its order, or sorted by key) or for (key, value) pairs, which may
    repeat a key (`--input a=x --input b=y`)."""
    pairs = list(settings.items() if isinstance(settings, Mapping) else settings)
    if sort:
        pairs.sort(key=lambda kv: kv[0])
    parts: list[str] = []
    for key, value in pairs:
        if value is None or value is False:
            continue
        if value is True:
            parts.append(flag_name(key))
        else:
            parts.append(f"{flag_name(key)} {quote_value(value)}")
    return " ".join(parts)
