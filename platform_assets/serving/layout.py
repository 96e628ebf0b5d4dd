"""Where serving keeps its files under `$SHELFCAST_HOME/serving`: one directory per bundle generation,
the `current` pointer naming the one being served, the API's key store, request log and window statistics."""

from pathlib import Path

SERVING_DIR = "serving"
CURRENT = "current"
KEYS_DB = "keys.sqlite"
REQUESTS_DB = "requests.sqlite"
WINDOWS_DB = "windows.sqlite"
# Request log rows the store refused for too long, as Parquet files, until it takes them again.
REQUEST_SPOOL = "request-spool"
# A bundle is written here first, then renamed to its generation: readers never see half a bundle.
PARTIAL_PREFIX = ".partial-"


def serving_root(home: Path) -> Path:
    return Path(home) / SERVING_DIR


def keys_path(home: Path) -> Path:
    return serving_root(home) / KEYS_DB


def requests_path(home: Path) -> Path:
    return serving_root(home) / REQUESTS_DB


def request_spool_path(home: Path) -> Path:
    return serving_root(home) / REQUEST_SPOOL


def windows_path(home: Path) -> Path:
    return serving_root(home) / WINDOWS_DB
