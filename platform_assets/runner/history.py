"""The monthly ingest partitions that cover a feed's data: what a full refresh runs over."""

from platform_assets.config.resources import ShelfcastConfig


def history_range(config: ShelfcastConfig) -> tuple[str, str]:
    """The first and last monthly ingest partitions covering the feed's data (plans included)."""
    first, last = config.make_feed().span()
    return first.replace(day=1).isoformat(), last.replace(day=1).isoformat()
