"""The monthly ingest partitions that cover a feed's data: what a full refresh runs over."""

from platform_assets.config.resources import ShelfcastConfig


def history_range(config: ShelfcastConfig, partitions_start: str | None = None) -> tuple[str, str]:
    """The first and last monthly ingest partitions covering the feed's data (plans included).

    `partitions_start`: the first partition there is; data starting before it raises a one-line
    ValueError naming what to set (a run over months without a partition could not start).
    """
    first, last = config.make_feed().span()
    start, end = first.replace(day=1).isoformat(), last.replace(day=1).isoformat()
    if partitions_start is not None and start < partitions_start:
        raise ValueError(
            f"the {config.ingest.feed} feed's data start in {start[:7]}, before the first ingest partition "
            f"({partitions_start}): set SHELFCAST_HISTORY_START={start}"
        )
    return start, end
