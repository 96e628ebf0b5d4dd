"""Every `SHELFCAST_*` value checked before anything runs, so a typo reads as one line naming the
variable, not as a dbt compilation error or a Dagster traceback several steps later."""

import os
from collections.abc import Mapping
from typing import get_args

from platform_assets.config.resources import _flag
from platform_assets.config.sections import SECTIONS
from platform_assets.config.settings import PREFIX, load_settings
from platform_assets.core.levels import parse_levels
from platform_assets.core.periods import check_freq

KINDS = {int: "an integer", float: "a number"}


def setting_problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per variable whose value cannot be used (empty: all usable)."""
    env = dict(os.environ if environ is None else environ)
    problems = []
    try:
        load_settings(env)
    except ValueError as err:
        problems.append(str(err))
    if (freq := env.get(f"{PREFIX}FREQ")) is not None:
        try:
            check_freq(freq)
        except ValueError as err:
            problems.append(f"{PREFIX}FREQ={freq!r}: {str(err).split(': ', 1)[1]}")
    if (levels := env.get(f"{PREFIX}LEVELS")) is not None:
        try:
            parse_levels(levels)
        except ValueError as err:
            problems.append(f"{PREFIX}LEVELS={levels!r}: {str(err).split(': ', 1)[1]}")
    for section in SECTIONS.values():
        for field, info in section.model_fields.items():
            name = f"{PREFIX}{field.upper()}"
            if name in env and (problem := _value_problem(name, env[name], info.annotation)):
                problems.append(problem)
    return problems


def _value_problem(name: str, value: str, annotation: object) -> str | None:
    """Why `value` cannot fill a field of this type, or None; the types `_from_env` reads."""
    if annotation is bool or bool in get_args(annotation):
        try:
            _flag(name, value)
        except ValueError as err:
            return str(err)
        return None
    kind = next((t for t in (int, float) if annotation is t or t in get_args(annotation)), None)
    if kind is None:
        return None
    try:
        kind(value)
    except ValueError:
        return f"{name}={value!r}: expected {KINDS[kind]}"
    return None
