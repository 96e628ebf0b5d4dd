"""The landing-zone sensor: each new or changed file in the landing directory is ingested once.

The cursor maps every file seen (path relative to the landing directory) to a fingerprint of its size
and mtime, so a file rewritten in place counts as new. New observation files are read cheaply (their
date column only) to find the months they cover; the batch becomes ONE `daily_refresh` run over that
month range (the ingest's single-run backfill). A file the sensor cannot read is recorded as seen and
left where it is: the ingest run reads every file, sets the unreadable ones aside with a report, and
lands the others, so one bad file never holds the batch back.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.config.settings import Settings
from platform_assets.defs.orchestration import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    current_month_key,
    daily_refresh,
)
from platform_assets.feeds.files.layout import fingerprints, landing_files
from platform_assets.feeds.files.reading import first_line, observation_months

FILES_TAG = "shelfcast/landing_files"
UNREADABLE_TAG = "shelfcast/landing_unreadable"
_LISTED = 5  # file names spelled out in a tag or message before "and N more"


@dataclass(frozen=True)
class LandingBatch:
    """What changed in the landing directory since the cursor, and the months it asks to re-ingest."""

    cursor: dict[str, str]  # every file present now -> fingerprint (the sensor's next cursor)
    observations: dict[str, str]  # new readable observation files
    catalog: dict[str, str]  # new or changed products / suppliers / events files
    unreadable: dict[str, str]  # new files the sensor could not use -> why
    months: tuple[str, str] | None  # first and last monthly partition key the new observations cover

    @property
    def run_key(self) -> str | None:
        """Stable for the same files in the same state, so a re-evaluation with an old cursor dedupes.

        Unreadable files are left out: they leave the directory during the run, and a re-evaluation
        that no longer sees them must still produce the same key.
        """
        driving = {**self.observations, **self.catalog}
        if not driving:
            return None
        digest = hashlib.sha256(json.dumps(sorted(driving.items())).encode()).hexdigest()
        return f"landing-{digest[:16]}"


def scan_landing(root: Path, paths: list[Path], cursor: Mapping[str, str]) -> LandingBatch:
    """Compare the listing with the cursor and read the months of the new observation files.

    Files that vanished since the listing (set aside by a running ingest) are skipped; files no
    longer present drop out of the cursor, so it only ever holds the current directory.
    """
    seen, observations, catalog, unreadable, months = {}, {}, {}, {}, []
    for file in fingerprints(paths):
        name = file.path.relative_to(root).as_posix()
        seen[name] = f"{file.size}:{file.mtime_ns}"
        if cursor.get(name) == seen[name]:
            continue
        if not name.startswith("observations/"):
            catalog[name] = seen[name]
            continue
        try:
            months.extend(observation_months(file.path))
        except Exception as err:  # polars raises many error types for corrupt input; all mean the same here
            unreadable[name] = first_line(err)
            continue
        observations[name] = seen[name]
    span = (min(months), max(months)) if months else None
    return LandingBatch(seen, observations, catalog, unreadable, span)


def parse_cursor(cursor: str | None) -> dict[str, str]:
    return json.loads(cursor) if cursor else {}


def clamp_months(months: tuple[str, str], first: str, last: str) -> tuple[str, str] | None:
    """The part of a month range that has ingest partitions (None when it has none)."""
    start, end = max(months[0], first), min(months[1], last)
    return (start, end) if start <= end else None


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _unreadable_note(batch: LandingBatch) -> str:
    return "; ".join(f"{name}: {why}" for name, why in sorted(batch.unreadable.items()))


def build_landing_defs(settings: Settings) -> dg.Definitions:
    # The same calendar as raw_observations: a run may only name months that have a partition.
    partitions = dg.MonthlyPartitionsDefinition(start_date=settings.history_start, end_offset=1)

    @dg.sensor(
        target=daily_refresh,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def landing_zone_sensor(context: dg.SensorEvaluationContext, config: ShelfcastConfig) -> dg.SensorResult:
        """New or changed landing files -> one daily_refresh over the months they cover."""
        if config.ingest.feed != "files":
            why = f"the feed is {config.ingest.feed!r}, not 'files': there is no landing zone to watch"
            return dg.SensorResult(skip_reason=f"Nothing to ingest: {why}.", cursor=context.cursor)
        root = config.landing_path
        if not root.is_dir():
            why = f"landing directory {root} does not exist"
            return dg.SensorResult(skip_reason=f"Nothing to ingest: {why}.", cursor=context.cursor)
        batch = scan_landing(root, landing_files(root), parse_cursor(context.cursor))
        cursor = json.dumps(batch.cursor, sort_keys=True)
        for name, why in sorted(batch.unreadable.items()):
            context.log.warning(
                f"{name} cannot be read ({why}): recorded as seen and left in place; the ingest run sets "
                "aside a file it cannot parse (with a report) and rejects rows without a usable date"
            )

        now = datetime.now(UTC)
        months = None
        if batch.months is not None:
            first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
            months = clamp_months(batch.months, first, last)
            if months != batch.months:
                earlier = (
                    " (reload the code location to start them at the landing zone's first month, or set "
                    f"SHELFCAST_HISTORY_START={batch.months[0]})"
                    if batch.months[0] < first
                    else ""
                )
                context.log.warning(
                    f"the new files cover {batch.months[0]} .. {batch.months[1]}; ingest partitions run "
                    f"{first} .. {last}{earlier}, so {months or 'none of them'} is requested"
                )
        if months is None and batch.catalog:  # the catalog alone: refresh the newest month, as every day
            months = (current_month_key(now.date()),) * 2
        if months is None:
            why = (
                "the new files only cover months outside the ingest partitions"
                if batch.observations
                else "only unreadable new files"
                if batch.unreadable
                else "no new or changed file"
            )
            if batch.unreadable:
                why += f" (unreadable: {_unreadable_note(batch)})"
            return dg.SensorResult(skip_reason=f"Nothing to ingest in {root}: {why}.", cursor=cursor)

        new = sorted([*batch.observations, *batch.catalog])
        tags = {RANGE_START_TAG: months[0], RANGE_END_TAG: months[1], FILES_TAG: _names(new)}
        if batch.unreadable:
            tags[UNREADABLE_TAG] = _names(sorted(batch.unreadable))
        context.log.info(f"requesting daily_refresh over {months[0]} .. {months[1]} for {_names(new)}")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=batch.run_key, tags=tags)], cursor=cursor)

    return dg.Definitions(sensors=[landing_zone_sensor])
