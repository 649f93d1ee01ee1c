"""A search on the record: per tuned variant, every trial in results/TIER/search/VARIANT.json
(its values, its command line, its seeds' validation scores, its state), Optuna's own storage
of the search beside it (VARIANT.optuna.log, a JournalStorage that `optuna.load_study` reads), and
the choice in conf/tuned/TIER/VARIANT.yaml, a generated file that conf/config.yaml's defaults list
reads before the variant's own file.

The ledger holds no clock time, so a search replayed with nothing changed rewrites nothing.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, StudyConfig, variants
from study_machinery.runs.folder import json_text
from study_machinery.runs.plan import compose, composing
from study_machinery.search.settings import SAMPLER, Search
from study_machinery.search.trials import Searched, Trial


def record(
    study: StudyConfig,
    search: Search,
    tier: str,
    budget: dict[str, int],
    searched: list[Searched],
    conf_dir: Path = paths.CONF_DIR,
) -> None:
    """Write each variant's ledger, its Optuna storage, and the choices; check the choices apply."""
    better = study.metrics[study.main_metric].better
    declared = {entry.variant: entry for entry in search.unequal}
    chosen: dict[str, Trial] = {}
    for item in searched:
        best = item.best(better)
        if best is None:
            errors = sorted({error for trial in item.trials for error in trial.errors.values()})
            raise StudyError(
                f"no trial of {item.variant}'s search at tier {tier} finished on every seed, so "
                f"nothing was chosen: {'; '.join(errors[:3])}"
            )
        chosen[item.variant] = best
        content = {
            "variant": item.variant,
            "tier": tier,
            "scored_on": "validation",
            "metric": study.main_metric,
            "better": better.value,
            "seeds": [run_.seed for run_ in item.trials[0].runs],
            "budget": budget[item.variant],
            "unequal_budget": declared[item.variant].why.strip() if item.variant in declared else None,
            "batch": search.batch,
            "sampler": SAMPLER,
            "sampler_seed": search.sampler_seed,
            "pruning": f"Wilcoxon, one-sided, p < {search.prune_p:g}" if search.pruning else None,
            "space": {axis.key: axis.describe() for axis in item.space},
            "chosen": {"trial": best.number, "score": best.score, "values": best.values},
            "trials": [_row(trial) for trial in item.trials],
        }
        path = paths.ledger_file(tier, item.variant)
        if not path.is_file() or path.read_text(encoding="utf-8") != json_text(content):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json_text(content), encoding="utf-8")
            _journal(tier, item)
        elif not paths.journal_file(tier, item.variant).is_file():
            _journal(tier, item)
    _write_choices(study, tier, chosen, conf_dir)


def _row(trial: Trial) -> dict[str, Any]:
    first = trial.runs[0]
    return {
        "trial": trial.number,
        "state": trial.state,
        "score": trial.score,
        "values": trial.values,
        # Each seed's run by hand: `python -m study_machinery run` + these, then seed=SEED.
        "overrides": " ".join(first.overrides[:-1]),
        "scores": {str(seed): score for seed, score in trial.scores.items()},
        "errors": {str(seed): error for seed, error in trial.errors.items()},
        "runs": paths.shown(first.folder.parent),
    }


def _journal(tier: str, item: Searched) -> None:
    """The search as Optuna stores it, written afresh: `optuna.load_study` and its dashboard read it."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    path = paths.journal_file(tier, item.variant)
    path.unlink(missing_ok=True)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    optuna.copy_study(from_study_name=f"{tier}/{item.variant}", from_storage=item.storage, to_storage=storage)


def _nested(values: dict[str, Any]) -> dict[str, Any]:
    """{"model.hidden_units": [50]} as the YAML a config file holds: {"model": {"hidden_units": [50]}}."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *parents, last = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def _write_choices(study: StudyConfig, tier: str, chosen: dict[str, Trial], conf_dir: Path) -> None:
    """conf/tuned/TIER/: each tuned variant's choice, each ablation's the method's; nothing else."""
    folder = conf_dir / paths.TUNED / tier
    shutil.rmtree(folder, ignore_errors=True)
    metric = study.main_metric
    written: dict[str, dict[str, Any]] = {}
    for variant in variants(conf_dir):
        source = METHOD if variant.startswith("ablation/") else variant
        if source not in chosen:
            continue
        trial = chosen[source]
        seeds = ", ".join(str(seed) for seed in trial.scores)
        lines = [
            "# @package _global_",
            f"# Generated by `python -m study_machinery tune {tier}`: do not edit, search again.",
            f"# {source}'s search at tier {tier} chose trial {trial.number}: mean validation {metric} "
            f"{trial.score:.4g} over seeds {seeds}.",
            f"# Every trial: {paths.shown(paths.ledger_file(tier, source))}.",
        ]
        if source != variant:
            lines.append("# The method's choice: an ablation changes one thing from the method as tuned.")
        path = paths.tuned_file(tier, variant, conf_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(_nested(trial.values), sort_keys=False, default_flow_style=False)
        path.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
        written[variant] = trial.values
    _check_choices(tier, written, conf_dir)


def _check_choices(tier: str, written: dict[str, dict[str, Any]], conf_dir: Path) -> None:
    """Each chosen value reaches the variant's config at the tier: a variant's own file, read after
    the choice, must not set a searched key (an ablation's one change aside)."""
    from omegaconf import OmegaConf

    with composing(conf_dir):
        for variant, values in written.items():
            what = f"conf/variant/{variant}.yaml does not compose at scale {tier}"
            config = compose([f"scale={tier}", f"variant={variant}"], what)
            for key, value in values.items():
                got = OmegaConf.select(config, key)
                got = OmegaConf.to_container(got, resolve=True) if OmegaConf.is_config(got) else got
                if got != value and not variant.startswith("ablation/"):
                    raise StudyError(
                        f"conf/variant/{variant}.yaml sets {key} itself ({json.dumps(got)}), after the "
                        f"search's choice ({json.dumps(value)}) in "
                        f"{paths.shown(paths.tuned_file(tier, variant, conf_dir))}: take it out of the "
                        "variant's file, so that the search's choice is what runs."
                    )


def read_ledger(tier: str, variant: str) -> dict[str, Any]:
    return json.loads(paths.ledger_file(tier, variant).read_text(encoding="utf-8"))


def summary(tier: str, variant: str) -> str:
    """'search@smoke: proposed chose trial 2 of 4 (mean validation accuracy 0.9523, seeds 0, 1): ...'"""
    ledger = read_ledger(tier, variant)
    chosen = ledger["chosen"]
    values = " ".join(f"{key}={json.dumps(value)}" for key, value in chosen["values"].items())
    seeds = ", ".join(map(str, ledger["seeds"]))
    return (
        f"search@{tier}: {variant} chose trial {chosen['trial']} of {ledger['budget']} (mean validation "
        f"{ledger['metric']} {chosen['score']:.4g}, seeds {seeds}): {values}"
    )
