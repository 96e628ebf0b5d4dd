"""The champion's evidence for the bundle: its backtest metrics and when it was trained, read from the
MLflow run that registered it."""

from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient


@dataclass(frozen=True)
class Champion:
    name: str
    version: str
    run_id: str
    trained_at: str | None  # ISO 8601, UTC: when the training run ended
    metrics: dict[str, float]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "trained_at": self.trained_at,
            "metrics": self.metrics,
        }


def champion_evidence(tracking_uri: str, name: str, version: int | str, run_id: str) -> Champion:
    run = MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    ended = run.info.end_time or run.info.start_time
    trained_at = datetime.fromtimestamp(ended / 1000, UTC).isoformat() if ended else None
    metrics = {k: float(v) for k, v in sorted(run.data.metrics.items())}
    return Champion(name, str(version), run_id, trained_at, metrics)
