"""The MLflow names every layer agrees on, importable without loading MLflow: the Dagster
definitions, the demo report and the drift loop need the names, not the client."""

EXPERIMENT = "shelfcast"
MODEL_NAME = "shelfcast-forecaster"
# Aliases of the registered model: the newest trained version, and the one that passed the gate.
CHAMPION, CHALLENGER = "champion", "challenger"
