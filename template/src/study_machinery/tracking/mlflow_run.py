"""MLflow: one MLflow run per run of a tier, in the experiment PROJECT/TIER.

Through MlflowClient, not the `mlflow.start_run` API: no process-wide active run, so runs that
follow one another in a worker never log into each other. The experiment is created once by
the tier's own process before the workers start (tracking.prepare): several workers creating
it at once would collide. A SQLite store in the study is the default; MLflow's file store
(./mlruns) is deprecated and refused by recent releases.
"""

import os
import time

from study_machinery.core import paths
from study_machinery.tracking.settings import STORE, Context, MLflowSettings

# MLflow's limits on one log_batch call (its REST API's, which the SQLite store keeps too).
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
# Longer param values are cut to this (MLflow refuses more); the whole config is in run.json.
PARAM_LENGTH = 6000
SQLITE = "sqlite:///"

_clients: dict[str, object] = {}


def _uri(settings: MLflowSettings) -> str:
    """The tracking URI, a relative SQLite path taken from the study's root (where the file goes)."""
    uri = settings.tracking_uri
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        database = paths.ROOT / uri.removeprefix(SQLITE)
        database.parent.mkdir(parents=True, exist_ok=True)
        return SQLITE + str(database)
    return uri


def _client(settings: MLflowSettings):
    uri = _uri(settings)
    if uri not in _clients:
        # MLflow's INFO lines (creating the SQLite tables) are not the study's business.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        # A server that does not answer fails in seconds, not after MLflow's default of minutes
        # of retries (246 s measured against a closed port).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        from mlflow import MlflowClient

        _clients[uri] = MlflowClient(tracking_uri=uri)
    return _clients[uri]


def experiment_id(settings: MLflowSettings, name: str) -> str:
    """The experiment's id, created if need be (its artifacts, if any, go under tracking/)."""
    from mlflow.exceptions import MlflowException

    client = _client(settings)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=(STORE / "mlartifacts").as_uri())
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another command
            raise
        return client.get_experiment_by_name(name).experiment_id


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """MLflow's params are flat strings.

    {"model": {"hidden_units": [100]}} -> {"model.hidden_units": "[100]"}.
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)[:PARAM_LENGTH]
    return flat


class MLflowRun:
    def __init__(self, settings: MLflowSettings, context: Context) -> None:
        from mlflow.entities import Param

        self.client = _client(settings)
        experiment = experiment_id(settings, f"{context.project}/{context.tier}")
        run = self.client.create_run(experiment, run_name=context.name, tags=context.tags())
        self.id = run.info.run_id
        self.last_epoch = 0
        params = [Param(key, value) for key, value in flatten(context.config).items()]
        for start in range(0, len(params), PARAMS_PER_BATCH):
            self.client.log_batch(self.id, params=params[start : start + PARAMS_PER_BATCH])

    def _log(self, scores: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, value in scores.items()]
        for start in range(0, len(metrics), METRICS_PER_BATCH):
            self.client.log_batch(self.id, metrics=metrics[start : start + METRICS_PER_BATCH])

    def epoch(self, epoch: int, scores: dict[str, float]) -> None:
        self._log(scores, epoch)
        self.last_epoch = epoch

    def finish(self, metrics: dict[str, float]) -> None:
        # At the last epoch's step: a final metric named like an epoch's score stays its latest value.
        self._log(metrics, self.last_epoch)
        self.client.set_terminated(self.id, "FINISHED")

    def fail(self) -> None:
        self.client.set_terminated(self.id, "FAILED")
