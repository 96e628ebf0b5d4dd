"""Feeds: where raw products, suppliers and observations come from (see base.Feed for the protocol)."""

from platform_assets.feeds.base import Feed, FeedResult, IgnoredFile, UnreadableFile
from platform_assets.feeds.files.feed import FilesFeed
from platform_assets.feeds.plausibility import DateBounds
from platform_assets.feeds.synthetic.config import SynthConfig
from platform_assets.feeds.synthetic.feed import SyntheticFeed
from platform_assets.feeds.tafeng import TafengFeed

KINDS = ("synthetic", "files", "tafeng")

__all__ = [
    "KINDS",
    "DateBounds",
    "Feed",
    "FeedResult",
    "FilesFeed",
    "IgnoredFile",
    "SynthConfig",
    "SyntheticFeed",
    "TafengFeed",
    "UnreadableFile",
    "make_feed",
]


def make_feed(
    kind: str,
    *,
    landing_dir: str | None,
    freq: str | None,
    synth: SynthConfig,
    quarantine_dir: str,
    tafeng_max_products: int | None = None,
    date_bounds: DateBounds | None = None,
    target: str = "units_sold",
) -> Feed:
    """The feed named by configuration; construction is cheap (data is read on demand)."""
    if kind == "synthetic":
        return SyntheticFeed(synth, freq=freq)
    if kind == "files":
        if not landing_dir:
            raise ValueError("the files feed needs a landing directory (SHELFCAST_LANDING_DIR)")
        return FilesFeed(
            landing_dir, quarantine_dir=quarantine_dir, freq=freq, bounds=date_bounds, target=target
        )
    if kind == "tafeng":
        return TafengFeed(max_products=tafeng_max_products, freq=freq)
    raise ValueError(f"unknown feed {kind!r}: expected one of {', '.join(KINDS)}")
