"""When monitoring should start a retrain: the sensor's decision as a pure function.

Rules, in order: something must have been evaluated; some watched check's newest evaluation must be
failing; that failure must be newer than the last retrain (else the retrain already answered it); no
retrain may be in flight; and the last retrain must be older than the cool-down, so persistent drift
retrains at most once per cool-down instead of on every tick. The run key names the failing
evaluations, so evaluating the same state twice can never start two runs.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Evaluation:
    """The newest completed evaluation of one watched check."""

    check: str  # e.g. "dataset_drift"
    evaluation_id: int  # storage id of the check's evaluation: unique and increasing
    run_id: str
    passed: bool
    at: float  # unix time the evaluation was recorded
    description: str = ""


@dataclass(frozen=True)
class RetrainDecision:
    run_key: str | None  # None: do nothing, `reason` says why
    reason: str
    triggers: tuple[Evaluation, ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        return {
            "shelfcast/trigger": "monitoring",
            "shelfcast/failing_checks": ",".join(e.check for e in self.triggers),
            "shelfcast/failing_runs": ",".join(sorted({e.run_id for e in self.triggers})),
        }


def decide_retrain(
    latest: list[Evaluation],
    *,
    now: float,
    cooldown_hours: float,
    last_retrain_at: float | None,
    in_flight_run: str | None,
) -> RetrainDecision:
    if not latest:
        return RetrainDecision(None, "no watched check has been evaluated yet")
    failing = sorted((e for e in latest if not e.passed), key=lambda e: e.check)
    if not failing:
        return RetrainDecision(None, f"all {len(latest)} watched checks pass on their newest evaluation")
    names = ", ".join(f"{e.check} (run {e.run_id[:8]})" for e in failing)
    fresh = tuple(e for e in failing if last_retrain_at is None or e.at > last_retrain_at)
    if not fresh:
        return RetrainDecision(None, f"failing {names} predate the last retrain: already answered")
    if in_flight_run is not None:
        return RetrainDecision(None, f"retrain run {in_flight_run[:8]} is in progress; failing: {names}")
    if last_retrain_at is not None:
        hours = (now - last_retrain_at) / 3600
        if hours < cooldown_hours:
            return RetrainDecision(
                None,
                f"cool-down: the last retrain started {hours:.1f} h ago (< {cooldown_hours:g} h); "
                f"failing: {names}",
            )
    key = "retrain-" + "-".join(f"{e.check}.{e.evaluation_id}" for e in fresh)
    return RetrainDecision(key, f"retrain for failing {names}", fresh)
