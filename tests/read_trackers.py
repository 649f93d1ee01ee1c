"""Read a study's runs back from a tracker's own store, as JSON on stdout: the tests' witness.

Run with the study's Python (its .venv has the trackers): `python read_trackers.py mlflow|wandb`
from the study's root.

- mlflow: MLflow's own client on the study's SQLite store: every experiment, and each run's
  name, status, tags, params, final metrics and the history of each per-epoch score.
- wandb: the offline run folders under tracking/wandb/. wandb 0.31 has no Python reader of its
  run files any more (its core, in Go, writes them), so the file's framing (LevelDB's log
  format, under W&B's 7-byte header) is undone here, and each record is decoded with W&B's own
  protobuf definitions; `wandb sync --dry-run` (the test) checks that W&B itself sees the runs.
"""

import json
import os
import struct
import sys
from pathlib import Path

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK, RECORD_HEADER = 32768, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
EPOCH_SCORES = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def mlflow_runs() -> dict:
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{Path('tracking/mlflow.db').resolve()}")
    experiments = {}
    for experiment in client.search_experiments():
        runs = []
        for found in client.search_runs([experiment.experiment_id], max_results=10000):
            history = {
                score: [
                    (point.step, point.value) for point in client.get_metric_history(found.info.run_id, score)
                ]
                for score in EPOCH_SCORES
                if score in found.data.metrics
            }
            runs.append(
                {
                    "name": found.info.run_name,
                    "status": found.info.status,
                    "tags": {k: v for k, v in found.data.tags.items() if not k.startswith("mlflow.")},
                    "params": found.data.params,
                    "metrics": found.data.metrics,
                    "history": history,
                }
            )
        experiments[experiment.name] = runs
    return experiments


def records(path: Path):
    """The protobuf records of a run-ID.wandb file."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[: len(HEADER)] != HEADER:
        raise ValueError(f"{path}: not a W&B run file")
    position, pending = len(HEADER), b""
    while position + RECORD_HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < RECORD_HEADER:  # a block's trailer
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + RECORD_HEADER])
        if kind == 0 and length == 0:
            break
        chunk = data[position + RECORD_HEADER : position + RECORD_HEADER + length]
        position += RECORD_HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


def wandb_runs() -> list[dict]:
    runs = []
    for folder in sorted(Path("tracking/wandb").glob("offline-run-*")):
        (path,) = folder.glob("run-*.wandb")
        run = {"folder": folder.name, "config": {}, "history": [], "summary": {}, "exit_code": None}
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                found = record.run
                run |= {
                    "name": found.display_name,
                    "project": found.project,
                    "group": found.run_group,
                    "job_type": found.job_type,
                    "tags": list(found.tags),
                    "notes": found.notes,
                }
                updates = found.config.update
            elif kind == "config":
                updates = record.config.update
            elif kind == "history":
                run["history"].append(
                    {_key(item): json.loads(item.value_json) for item in record.history.item}
                )
                continue
            elif kind == "summary":
                run["summary"] |= {_key(item): json.loads(item.value_json) for item in record.summary.update}
                continue
            elif kind == "exit":
                run["exit_code"] = record.exit.exit_code
                continue
            else:
                continue
            for item in updates:
                value = json.loads(item.value_json)
                # W&B keeps each config value as {"value": ...}, and a key of its own, _wandb.
                if _key(item) != "_wandb":
                    wrapped = isinstance(value, dict) and set(value) == {"value"}
                    run["config"][_key(item)] = value["value"] if wrapped else value
        runs.append(run)
    return runs


if __name__ == "__main__":
    print(json.dumps(mlflow_runs() if sys.argv[1] == "mlflow" else wandb_runs()))
