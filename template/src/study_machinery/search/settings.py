"""What conf/study.yaml says of the search (`search:`), checked: the budgets are fair, or declared.

A variant is tuned when it has a search space, conf/search/VARIANT.yaml (space.py). At each
tier of `search.trials`, every tuned variant gets that many trials. A baseline searched less
than the method, or not at all, is what makes a method look better than it is; so it is
refused unless `search.unequal` declares it with a reason, which every table caption and the
checklist then show. Ablations are never searched: each changes one thing from the method as
the search chose it (search/tune.py writes the method's choice for them too).
"""

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, SEED_RULE, StudyConfig, valid_seed, variants

# What the reader of a ledger, a chosen file or a caption is told of the search's method.
SAMPLER = "Optuna's TPE sampler (TPESampler), seeded"


@dataclass
class Unequal:
    """A variant searched with another budget than the others, by a decision recorded here."""

    variant: str = MISSING
    # Its trials at each tier it is searched at (0: not searched there).
    trials: dict[str, int] = MISSING
    # Why, in words a reader can check: every table caption and the checklist show it.
    why: str = MISSING

    def __str__(self) -> str:
        budget = ", ".join(f"{trials} trials at {tier}" for tier, trials in self.trials.items())
        return f"{self.variant} ({budget}: {self.why.strip().rstrip('.')})"


@dataclass
class Search:
    # Trials per tuned variant at each tier that has a search; a tier not named has none.
    trials: dict[str, int] = field(default_factory=dict)
    # Trials proposed at a time; their runs (trials x seeds) execute together on the tier's
    # executor. The trials proposed depend on it, not on how many workers run them.
    batch: int = 4
    # The seed of the sampler (Optuna's TPE): the same space, budget and seed propose the same trials.
    sampler_seed: int = 0
    # Variants searched with another budget, each with why (`[]`: every budget is equal).
    unequal: list[Unequal] = field(default_factory=list)
    # Stop a trial early, after some of its seeds, when a paired test (Wilcoxon's signed-rank,
    # one-sided) finds it worse than the best trial on the same seeds at p < prune_p. Off: each
    # trial runs all its seeds. The test can first reject at 4 seeds (p = 1/16).
    pruning: bool = False
    prune_p: float = 0.1

    def method(self) -> str:
        """The sampler and the pruning, as the ledger and the captions say them."""
        pruning = f"Wilcoxon pruning at p < {self.prune_p:g}" if self.pruning else "no pruning"
        return f"{SAMPLER} (seed {self.sampler_seed}), {pruning}"


def spaces(conf_dir: Path = paths.CONF_DIR) -> list[str]:
    """The variants that have a search space: conf/search/VARIANT.yaml."""
    folder = conf_dir / paths.SEARCH_SPACES
    found = (path.relative_to(folder).with_suffix("").as_posix() for path in folder.rglob("*.yaml"))
    return sorted(found, key=lambda name: (name != METHOD, name)) if folder.is_dir() else []


def read_search(study: StudyConfig, conf_dir: Path = paths.CONF_DIR) -> Search:
    """conf/study.yaml's `search:` against its schema, and its budgets checked (budgets)."""
    shown = f"{paths.shown(paths.STUDY_FILE)}: search"
    try:
        search = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Search), study.search or {}))
    except MissingMandatoryValue as error:
        raise StudyError(f"{shown}: `{error.full_key}` is missing.") from None
    except OmegaConfBaseException as error:
        raise StudyError(f"{shown}: {str(error).splitlines()[0]}") from None
    assert isinstance(search, Search)
    for tier, trials in search.trials.items():
        if tier not in study.tiers:
            raise StudyError(f"{shown}.trials: {tier!r} is not a tier ({', '.join(study.tiers)}).")
        if trials < 1:
            raise StudyError(f"{shown}.trials: tier {tier!r} needs one trial or more, not {trials}.")
    if search.batch < 1:
        raise StudyError(f"{shown}.batch: one trial at a time or more, not {search.batch}.")
    if not 0 < search.prune_p < 1:
        raise StudyError(f"{shown}.prune_p: a p-value threshold between 0 and 1, not {search.prune_p}.")
    if not valid_seed(search.sampler_seed):
        raise StudyError(f"{shown}.sampler_seed: {SEED_RULE}, not {search.sampler_seed}.")
    for tier in search.trials:
        budgets(search, tier, conf_dir)
    return search


def budgets(search: Search, tier: str, conf_dir: Path = paths.CONF_DIR) -> dict[str, int]:
    """Each variant's trials at the tier (0: not searched), the method first; a budget that is
    not the method's and not declared under `search.unequal` is refused, naming the variant."""
    shown = f"{paths.shown(paths.STUDY_FILE)}: search"
    names, searched = variants(conf_dir), spaces(conf_dir)
    for variant in searched:
        if variant not in names:
            raise StudyError(f"conf/search/{variant}.yaml: there is no conf/variant/{variant}.yaml to tune.")
        if variant.startswith("ablation/"):
            raise StudyError(
                f"conf/search/{variant}.yaml: an ablation is not searched; it changes one thing from "
                "the method as the search chose it. Delete the file."
            )
    declared = {entry.variant: entry for entry in search.unequal}
    for entry in search.unequal:
        if entry.variant not in names:
            raise StudyError(f"{shown}.unequal: there is no conf/variant/{entry.variant}.yaml.")
        if not entry.why.strip():
            raise StudyError(f"{shown}.unequal: {entry.variant}: say why (`why:`); every caption shows it.")
        for named in entry.trials:
            if named not in search.trials:
                raise StudyError(f"{shown}.unequal: {entry.variant}: tier {named!r} has no search.trials.")
    compared = [name for name in names if not name.startswith("ablation/")]
    budget = {}
    for variant in compared:
        default = search.trials[tier] if variant in searched else 0
        trials = declared[variant].trials.get(tier, default) if variant in declared else default
        if trials > 0 and variant not in searched:
            raise StudyError(
                f"{shown}: {variant} has {trials} trials at tier {tier} but no search space: "
                f"write conf/search/{variant}.yaml (docs/tuning.md)."
            )
        budget[variant] = trials
    method = budget.get(METHOD, 0)
    for variant, trials in budget.items():
        if trials != method and variant not in declared:
            searched_as = f"searched with {trials} trials" if trials else "not searched (no search space),"
            raise StudyError(
                f"{shown}: at tier {tier}, {variant} is {searched_as} while {METHOD} has {method}: a "
                "comparison is fair only when every variant is tuned with the same budget. Give it "
                f"conf/search/{variant}.yaml, or declare the unequal budget under search.unequal with why."
            )
    return budget


def how_chosen(study: StudyConfig, tier: str, conf_dir: Path = paths.CONF_DIR) -> str:
    """How the tier's hyperparameters were chosen, in a sentence for every caption and the checklist."""
    search = read_search(study, conf_dir)
    if tier not in search.trials:
        return "Hyperparameters: as conf/ sets them; no search at this tier."
    budget = budgets(search, tier, conf_dir)
    tuned = [variant for variant, trials in budget.items() if trials]
    missing = [variant for variant in tuned if not paths.tuned_file(tier, variant, conf_dir).is_file()]
    if missing:
        return (
            f"Hyperparameters: as conf/ sets them; the search declared for this tier has not chosen "
            f"for {', '.join(missing)} (`uvx nox -s tune -- {tier}`)."
        )
    seeds = study.kept(tier, METHOD)
    equal = {trials for variant, trials in budget.items() if trials} == {search.trials[tier]}
    sentence = (
        f"Hyperparameters: chosen for {', '.join(tuned)} by a search at this tier, "
        f"{search.trials[tier]} trials each{'' if equal else ' unless declared'} of {search.method()}, "
        f"each trial over the same {len(seeds)} seeds and scored by its mean validation "
        f"{study.main_metric} on a split of the training data; the ablations take the method's "
        f"choice ({paths.shown(paths.results_dir(tier) / paths.SEARCH)}/)."
    )
    return sentence + unequal_budgets(study, tier, conf_dir)


def refuse_missing_choices(study: StudyConfig, tier: str, conf_dir: Path = paths.CONF_DIR) -> None:
    """Where a search at the tier has chosen, every variant it tunes (and every ablation, which
    takes the method's choice) has its choice: one added since the search ran would be compared,
    untuned, with tuned ones. Nothing is refused at a tier never searched (none is tuned)."""
    search = read_search(study, conf_dir)
    if tier not in search.trials or not (conf_dir / paths.TUNED / tier).is_dir():
        return
    budget = budgets(search, tier, conf_dir)
    should = [variant for variant, trials in budget.items() if trials]
    if budget.get(METHOD):
        should += [variant for variant in variants(conf_dir) if variant.startswith("ablation/")]
    missing = [variant for variant in should if not paths.tuned_file(tier, variant, conf_dir).is_file()]
    if missing:
        raise StudyError(
            f"the search at tier {tier} has no choice for {', '.join(missing)} (added since it ran): "
            f"`uvx nox -s tune -- {tier}` writes it, executing only the trials not done. Nothing has run."
        )


def unequal_budgets(study: StudyConfig, tier: str, conf_dir: Path = paths.CONF_DIR) -> str:
    """' Unequal budgets, declared: ...' for every caption; empty when every budget is equal."""
    search = read_search(study, conf_dir)
    unequal = [str(entry) for entry in search.unequal if tier in entry.trials and tier in search.trials]
    return f" Unequal budgets, declared: {'; '.join(unequal)}." if unequal else ""
