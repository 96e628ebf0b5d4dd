"""The `shelfcast` command: `shelfcast serve` runs the API over the current serving bundle;
`shelfcast keys create|list|revoke` manages its API keys (the key is printed once, alone on the last
line, and only its hash is kept); `status`, `forecast`, `export` and `report` show what the platform
made (cli/outputs.py)."""

import argparse
import sys

from platform_assets.cli.outputs import add_commands
from platform_assets.config.api import api_config
from platform_assets.serving.keys import SCOPES, KeyStore
from platform_assets.serving.stores import key_store

# The app factory uvicorn imports in each worker process.
APP_FACTORY = "platform_assets.serving.api.app:app_from_environment"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # only the server needs it

    serving = api_config().serving
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=args.host or serving.serve_host,
        port=args.port or serving.serve_port,
        workers=args.workers or serving.serve_workers,
        access_log=not args.no_access_log,
        timeout_graceful_shutdown=30,
    )
    return 0


def _store() -> KeyStore:
    """The keys of the API this environment configures (SQLite under SHELFCAST_HOME, or Postgres)."""
    config = api_config()
    return key_store(config.home, config.pg_dsn, config.serving.serve_key_pepper)


def _create(args: argparse.Namespace) -> int:
    store = _store()
    if args.if_none and any(k.revoked_at is None for k in store.all_keys()):
        print("an API key exists already (`shelfcast keys list`); its text was shown when it was created")
        return 0
    key, text = store.create(args.name, args.scope)
    print(f"created API key {key.key_id} ({key.name}, scope {key.scope}); it is shown once, keep it now:")
    print(text)
    return 0


def _list(_: argparse.Namespace) -> int:
    keys = _store().all_keys()
    print(f"{'key_id':<14}{'scope':<9}{'created_at':<27}{'revoked_at':<27}name")
    for k in keys:
        print(f"{k.key_id:<14}{k.scope:<9}{k.created_at:<27}{k.revoked_at or '-':<27}{k.name}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        key = _store().revoke(args.key_id)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 1
    print(f"revoked {key.key_id} ({key.name}) at {key.revoked_at}; a running API refuses it within seconds")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="shelfcast", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API (SHELFCAST_HOME, SHELFCAST_SERVE_*)")
    serve.add_argument("--host", help="default SHELFCAST_SERVE_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default SHELFCAST_SERVE_PORT (8000)")
    serve.add_argument("--workers", type=int, help="server processes (default SHELFCAST_SERVE_WORKERS: 1)")
    serve.add_argument("--no-access-log", action="store_true", help="the request log still records all")
    serve.set_defaults(run=_serve)
    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", choices=SCOPES, default="read")
    create.add_argument("--if-none", action="store_true", help="only when no active key exists")
    create.set_defaults(run=_create)
    keys.add_parser("list", help="key ids, scopes, dates (never the keys)").set_defaults(run=_list)
    revoke = keys.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_revoke)
    add_commands(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
