"""`make demo` / `make dev` first: refuse unusable `SHELFCAST_*` values in one line each (exit 2)."""

import sys

from platform_assets.config.check import setting_problems


def main() -> int:
    problems = setting_problems()
    for problem in problems:
        print(f"shelfcast: {problem}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
