"""`make instance`: create the Postgres databases when SHELFCAST_WAREHOUSE=postgres (storage/databases.py)."""

import sys

from platform_assets.config.settings import load_settings
from platform_assets.storage.databases import ensure_databases


def main() -> int:
    settings = load_settings()
    if settings.warehouse != "postgres":
        print("SHELFCAST_WAREHOUSE is not postgres: nothing to set up")
        return 0
    created = ensure_databases(settings.pg_dsn)
    print(f"postgres databases created: {', '.join(created) or 'none (all present)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
