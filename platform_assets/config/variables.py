"""Every `SHELFCAST_*` variable with its default and meaning, from the one place each is defined: the
load-time ones in config/settings.py, the others as fields of the settings sections. The README's table
is this table (tests/test_config.py); `python -m platform_assets.config.variables` prints it."""

from pydantic_core import PydanticUndefined

from platform_assets.config.sections import SECTIONS
from platform_assets.config.settings import LOAD_TIME, PREFIX

HEADER = "| variable | default | resource field | what it does |\n|---|---|---|---|"


def _default(value: object) -> str:
    return "unset" if value is None or value is PydanticUndefined else f"`{value}`"


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, where it lands, default, description), load-time ones first."""
    out = [(f"{PREFIX}{name}", "(load time)", default, text) for name, (default, text) in LOAD_TIME.items()]
    for section, cls in SECTIONS.items():
        for field, info in cls.model_fields.items():
            out.append(
                (
                    f"{PREFIX}{field.upper()}",
                    f"`config.{section}.{field}`",
                    _default(info.default),
                    info.description or "",
                )
            )
    return out


def markdown_table() -> str:
    lines = [f"| `{name}` | {default} | {where} | {text} |" for name, where, default, text in rows()]
    return "\n".join([HEADER, *lines])


if __name__ == "__main__":
    print(markdown_table())
