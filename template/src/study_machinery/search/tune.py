"""A tier's hyperparameter search: each tuned variant's trials, each trial over the tier's seeds,
scored on the validation split; the choice written where the variant's config reads it.

`python -m study_machinery tune TIER` (what `nox -s tune -- TIER` runs), per tuned variant:

1. Optuna's TPE sampler, seeded with `search.sampler_seed`, proposes `search.batch` trials at a
   time from the variant's space (conf/search/VARIANT.yaml);
2. each trial is a set of runs, one per seed of the tier (the same seeds for every trial, so
   trials compare paired), with `scored_on=validation`: the research code scores them on a
   validation split carved from the training data, and never reads the test split. They are runs
   like a tier's, in trials/TIER/VARIANT/trial_NNN/seed_SEED/, with an identity: a trial whose
   runs are done is not run again, and a killed search started again replays the trials done
   (the sampler proposes the same ones) and executes only the rest. A batch's runs execute
   together on the tier's executor (local cores, SLURM, Ray);
3. a trial's score is the mean over its seeds of the main metric, in its declared direction;
   the best trial is the choice. Only this process talks to Optuna: the runs, wherever they
   execute, write their own folders and nothing else, so parallel workers cannot race on it.

Then (ledger.py) every trial goes on the record, results/TIER/search/VARIANT.json, with Optuna's
own storage of the search beside it, and the choice into conf/tuned/TIER/VARIANT.yaml, which
conf/config.yaml's defaults list reads before the variant's own file: the tier's main result
(`python -m study_machinery tier TIER`) runs the chosen configurations on the test split. Each
ablation gets the method's choice (its one change still applies on top).
"""

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from study_machinery import executors
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import Better, StudyConfig, load_study
from study_machinery.runs import identity
from study_machinery.runs.plan import compose, composing, seeded, state
from study_machinery.search import ledger
from study_machinery.search.settings import Search, budgets, read_search
from study_machinery.search.space import Range, override, read_space
from study_machinery.search.trials import Searched, Trial
from study_machinery.tiers.batch import Batch, execute_batch

if TYPE_CHECKING:
    import optuna

# The split a search's runs are scored on: the research code carves it from the training data
# (the contract's `scored_on`); the main result's runs are scored on `test`.
VALIDATION = "scored_on=validation"


def tune(
    tier: str,
    executor_name: str | None = None,
    overrides: list[str] | None = None,
    conf_dir: Path = paths.CONF_DIR,
) -> list[Searched]:
    """Search every tuned variant of the tier; write the ledgers and the choices."""
    study = load_study(conf_dir)
    search = read_search(study, conf_dir)
    if tier not in search.trials:
        named = ", ".join(search.trials) or "none"
        raise StudyError(
            f"tier {tier} has no search: conf/study.yaml's search.trials names the tiers with one ({named})."
        )
    budget = {variant: trials for variant, trials in budgets(search, tier, conf_dir).items() if trials > 0}
    if not budget:
        raise StudyError(
            "no variant has a search space: write conf/search/proposed.yaml (and one per baseline), "
            "as docs/tuning.md shows."
        )
    executor = executors.load(executor_name or study.tiers[tier].executor, overrides or [], conf_dir)
    _quiet_optuna()
    shared = identity.shared()
    batch = Batch(f"{tier}-search", f"search@{tier}", f"tune {tier}", f"runs of the search at tier {tier}")
    searched = []
    with executor.session(batch.name):
        for variant, trials in budget.items():
            searched.append(_search(study, search, tier, variant, trials, executor, batch, shared, conf_dir))
    ledger.record(study, search, tier, budget, searched, conf_dir)
    return searched


def _search(
    study: StudyConfig,
    search: Search,
    tier: str,
    variant: str,
    budget: int,
    executor: executors.Executor,
    batch: Batch,
    shared: identity.Shared,
    conf_dir: Path,
) -> Searched:
    import optuna

    space = read_space(variant, conf_dir)
    better = study.metrics[study.main_metric].better
    storage = optuna.storages.InMemoryStorage()
    pruner = _pruner(search)
    optimum = optuna.create_study(
        storage=storage,
        study_name=f"{tier}/{variant}",
        direction="maximize" if better is Better.higher else "minimize",
        # TPE: Optuna's default, for spaces that mix floats, whole numbers and choices; seeded,
        # it proposes the same trials given the same results.
        sampler=optuna.samplers.TPESampler(seed=search.sampler_seed),
        pruner=pruner or optuna.pruners.NopPruner(),
    )
    seeds = study.kept(tier, variant)
    # With a pruner, a batch's trials run one seed at a time, so that after each seed the pruner
    # can stop a trial that is worse than the best, paired by seed; without one, all at once.
    waves = [[seed] for seed in seeds] if pruner else [seeds]
    trials: list[Trial] = []
    while len(trials) < budget:
        asked = [optimum.ask() for _ in range(min(search.batch, budget - len(trials)))]
        proposed = _plan_trials(tier, variant, space, asked, seeds, shared, conf_dir)
        todo = [run_ for trial in proposed for run_ in trial.runs if state(run_)[0] != "done"]
        first = len(trials) + 1
        print(
            f"{batch.label}: {variant}, trials {first}-{first + len(asked) - 1} of {budget}: "
            f"{'at most ' if pruner else ''}{len(todo)} runs to execute, "
            f"{sum(len(trial.runs) for trial in proposed) - len(todo)} done",
            file=sys.stderr,
            flush=True,
        )
        alive = list(zip(proposed, asked, strict=True))
        given = failures = 0
        for wave in waves:
            runs = [run_ for trial, _ in alive for run_ in trial.runs if run_.seed in wave]
            todo = [run_ for run_ in runs if state(run_)[0] != "done"]
            executed = execute_batch(batch, todo, executor, len(runs) - len(todo)) if todo else None
            outcomes = executed.failed if executed else []
            failed = {outcome.name: outcome.error or "failed" for outcome in outcomes}
            given, failures = given + len(todo), failures + len(failed)
            for trial, asked_trial in alive:
                _score(trial, study.main_metric, failed, wave)
                for seed in wave if pruner else ():
                    score = trial.scores[seed]
                    if score is not None:
                        asked_trial.report(score, step=seed)
                unfinished = len(trial.scores) < len(seeds)
                trial.pruned = pruner is not None and unfinished and asked_trial.should_prune()
            # A trial stopped, or one whose seed failed (it cannot be chosen), runs no more seeds.
            alive = [(trial, told) for trial, told in alive if not trial.pruned and trial.errors == {}]
        for trial, asked_trial in zip(proposed, asked, strict=True):
            if trial.pruned:
                optimum.tell(asked_trial, state=optuna.trial.TrialState.PRUNED)
            elif trial.score is None:
                optimum.tell(asked_trial, state=optuna.trial.TrialState.FAIL)
            else:
                optimum.tell(asked_trial, trial.score)
        trials += proposed
        if given and failures == given and all(trial.score is None for trial in trials):
            # Every run so far failed: the same cause (missing data, a bug) fails every trial.
            raise StudyError(
                f"every run of the search of {variant} at tier {tier} failed; for one: "
                + next(error for trial in proposed for error in trial.errors.values())
            )
    return Searched(variant, space, trials, storage)


def _plan_trials(
    tier: str,
    variant: str,
    space: list[Range],
    asked: list["optuna.Trial"],
    seeds: list[int],
    shared: identity.Shared,
    conf_dir: Path,
) -> list[Trial]:
    proposed = []
    with composing(conf_dir):
        for trial in asked:
            values = {axis.key: axis.suggest(trial) for axis in space}
            overrides = [
                f"scale={tier}",
                f"variant={variant}",
                VALIDATION,
                *(override(key, value) for key, value in values.items()),
            ]
            where = f"trial {trial.number} of {variant}'s search at tier {tier} ({' '.join(overrides[3:])})"
            with_hydra = compose(overrides, f"{where} does not compose")
            if "scored_on" not in with_hydra:
                raise StudyError(
                    "the config has no `scored_on`, so a search could only score its trials on the test "
                    "split: the research code scores a run on the split `scored_on` names (test or "
                    "validation, carved from the training data), as src/study_machinery/contract.py says."
                )
            folder = paths.trial_dir(tier, variant, trial.number)

            def seed_folder(seed: int, folder: Path = folder) -> Path:
                return folder / f"seed_{seed}"

            runs = seeded(with_hydra, variant, seeds, seed_folder, overrides, None, shared, trial.number)
            proposed.append(Trial(trial.number, values, runs))
    return proposed


def _score(trial: Trial, metric: str, failed: dict[str, str], seeds: list[int]) -> None:
    """Each seed's main metric from its run's metrics.json (a run already done, or just executed)."""
    import json

    for run_ in (run_ for run_ in trial.runs if run_.seed in seeds):
        if state(run_)[0] != "done":
            trial.scores[run_.seed] = None
            trial.errors[run_.seed] = failed.get(run_.name, "it did not finish")
            continue
        metrics = json.loads((run_.folder / paths.RUN_METRICS).read_text(encoding="utf-8"))
        if metric not in metrics:
            raise StudyError(f"{paths.shown(run_.folder)} reports no {metric}, the main metric searched on.")
        trial.scores[run_.seed] = float(metrics[metric])


def _pruner(search: Search) -> "optuna.pruners.BasePruner | None":
    """Optuna's Wilcoxon pruner where search.pruning asks for it: a paired signed-rank test of a
    trial's seeds against the best trial's same seeds, one-sided, at search.prune_p."""
    if not search.pruning:
        return None
    import warnings

    import optuna

    with warnings.catch_warnings():
        # Experimental in Optuna since 3.6, its interface may change: the ledger records its setting.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.WilcoxonPruner(p_threshold=search.prune_p, n_startup_steps=2)


def _quiet_optuna() -> None:
    """Optuna's own line per trial would drown the progress line; the ledger has every trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
