"""DVCLive: one folder per run, runs/TIER/VARIANT/seed_S/dvclive/, which DVC keeps with the run.

It holds params.yaml (the config, the tags and the provenance path), metrics.json (the last
epoch's scores and the final metrics) and plots/metrics/SCORE.tsv (one row per epoch).
results/TIER/dvc.yaml lists every run's files (index), so that `dvc plots show` draws the
curves and `dvc exp show` shows the metrics, for this commit and earlier ones.

DVCLive is told to leave dvc.yaml alone (dvcyaml=None; parallel runs would race on it), not to
make DVC experiments, and to count steps as we say: its `next_step()` shares one file between
the runs of a study, which parallel runs race on.
"""

from pathlib import Path

import yaml

from study_machinery.tracking.settings import Context

FOLDER = "dvclive"


class DVCLiveRun:
    def __init__(self, context: Context) -> None:
        from dvclive import Live

        # resume=False: a resumed run starts the folder afresh; the epochs it had are replayed.
        self.live = Live(
            str(context.folder / FOLDER),
            dvcyaml=None,
            save_dvc_exp=False,
            report=None,
            monitor_system=False,
            resume=False,
        )
        self.live.log_params({**context.config, "run": context.tags()})

    def epoch(self, epoch: int, scores: dict[str, float]) -> None:
        self.live.step = epoch
        for name, value in scores.items():
            self.live.log_metric(name, value)
        self.live.make_summary()

    def finish(self, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.live.log_metric(name, value, plot=False)
        self.live.end()

    def fail(self) -> None:
        self.live.end()


def index(results: Path, runs: list[Path]) -> None:
    """results/TIER/dvc.yaml: every run's DVCLive files, for `dvc exp show` and `dvc plots`.

    DVC reads no glob there, nor a dvc.yaml inside a stage's output, so each run is listed, by a
    path relative to the file. A run without a DVCLive folder (run before DVCLive was chosen) is
    left out; with no run left, the file is removed.
    """
    path = results / "dvc.yaml"
    # DVCLive writes a metrics.json of its own into its folder once a run has finished.
    folders = [run / FOLDER for run in runs if (run / FOLDER / "metrics.json").is_file()]
    if not folders:
        path.unlink(missing_ok=True)
        return
    relative = {
        folder: Path("..", "..", folder.relative_to(results.parent.parent)).as_posix() for folder in folders
    }
    curves = {
        folder: sorted(tsv.stem for tsv in (folder / "plots" / "metrics").glob("*.tsv")) for folder in folders
    }
    scores = sorted({score for names in curves.values() for score in names})
    content = {
        "metrics": [f"{relative[folder]}/metrics.json" for folder in folders],
        "params": [f"{relative[folder]}/params.yaml" for folder in folders],
        # One chart per score, one line per run that has it (a model not trained in epochs has none).
        "plots": [
            {
                f"{results.name}: {score}": {
                    "x": "step",
                    "y": {
                        f"{relative[folder]}/plots/metrics/{score}.tsv": score
                        for folder in folders
                        if score in curves[folder]
                    },
                }
            }
            for score in scores
        ],
    }
    header = "# Every run's DVCLive files, written by the tier command (src/study_machinery/tracking/).\n"
    text = header + yaml.safe_dump(content, sort_keys=False)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        results.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
