"""Every variant composes at every scale, every ablation changes one thing, and the tiers
of conf/study.yaml are sound."""

import shutil

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, check_config_files, load_study, variants
from study_machinery.runs.ablations import differences, one_change_rule

CONF = paths.CONF_DIR
# Not swapped here: the variants are tested apart, a search's choices (tuned/) with the search,
# and the folders that are no group of a run's config (the executors, the search spaces).
NOT_SWAPPABLE = {"variant", "hydra", "tuned", *paths.NOT_RUN_GROUPS}
GROUPS = sorted(path.name for path in CONF.iterdir() if path.is_dir() and path.name not in NOT_SWAPPABLE)


def compose_variant(compose_config, variant: str, with_hydra: bool = False):
    """A variant's config; a file that does not compose fails the test with its path named."""
    try:
        return compose_config(f"variant={variant}", with_hydra=with_hydra)
    except ConfigCompositionException as error:
        pytest.fail(f"conf/variant/{variant}.yaml does not compose: {error} {error.__cause__ or ''}")


@pytest.mark.parametrize("variant", variants())
def test_every_variant_composes(compose_config, variant):
    config = OmegaConf.to_object(compose_variant(compose_config, variant))
    assert config.variant == variant, "a variant file must name itself in `variant:`"


@pytest.mark.parametrize(
    "override", [f"{group}={path.stem}" for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]
)
def test_every_option_composes(compose_config, override):
    OmegaConf.to_object(compose_config(override))


@pytest.mark.parametrize("scale", [path.stem for path in sorted((CONF / "scale").glob("*.yaml"))])
def test_every_variant_composes_at_every_scale(compose_config, scale):
    for variant in variants():
        assert OmegaConf.to_object(compose_config(f"scale={scale}", f"variant={variant}")).scale == scale


@pytest.mark.parametrize("ablation", [name for name in variants() if name.startswith("ablation/")])
def test_each_ablation_changes_exactly_one_thing(compose_config, ablation):
    proposed = compose_config(with_hydra=True)
    changes = differences(proposed, compose_variant(compose_config, ablation, with_hydra=True))
    assert one_change_rule(ablation, changes) is None, one_change_rule(ablation, changes)


def test_the_one_change_check_names_every_difference(tmp_path, monkeypatch):
    """A changed group choice counts once, any other value on its own, variant and scale not at all.

    On configs of a made-up study: the study's own groups may have one option each.
    """
    for group in ("optimizer", "scale", "variant"):
        (tmp_path / group).mkdir()
    monkeypatch.setattr(paths, "CONF_DIR", tmp_path)

    def config(variant: str, scale: str, optimizer: str, rate: float, threads: int):
        choices = {"variant": variant, "scale": scale, "optimizer": optimizer}
        settings = {"variant": variant, "scale": scale, "optimizer": {"rate": rate}, "threads": threads}
        return OmegaConf.create({"hydra": {"runtime": {"choices": choices}}, **settings})

    proposed = config("proposed", "small", "sgd", 0.1, 1)
    changed = config("ablation/other", "smoke", "adam", 0.01, 2)
    assert differences(proposed, changed) == ["optimizer: sgd -> adam", "threads: 1 -> 2"]
    assert differences(proposed, config("baseline/other", "smoke", "sgd", 0.1, 1)) == []


def test_the_proposed_method_is_the_default_and_comes_first(compose_config):
    assert OmegaConf.to_object(compose_config()).variant == METHOD
    assert variants()[0] == METHOD


def test_seed_zero_is_a_seed(compose_config):
    assert compose_config("seed=0").seed == 0


def test_an_unknown_variant_fails_at_compose_time(compose_config):
    with pytest.raises(ConfigCompositionException, match="Could not find 'variant/ablation/no_such_thing'"):
        compose_config("variant=ablation/no_such_thing")


# Mistakes in conf/study.yaml, made to the study's own settings (whatever its seeds and tiers).
def _a_seed_twice(study: dict) -> None:
    study["tiers"]["smoke"]["seeds"].append(study["tiers"]["smoke"]["seeds"][0])


def _one_seed(study: dict) -> None:
    del study["tiers"]["smoke"]["seeds"][1:]


def _no_such_main_tier(study: dict) -> None:
    study["main_tier"] = "nowhere_" + study["main_tier"]


def _a_misspelt_key(study: dict) -> None:
    study["seeds_vary_typo"] = study.pop("seeds_vary")


def _not_yaml(study: dict) -> str:
    return yaml.safe_dump(study, sort_keys=False).replace("tiers:", "tiers: [", 1)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_a_seed_twice, "tier 'smoke' lists a seed twice"),
        (_one_seed, "tier 'smoke' needs two seeds or more"),
        (_no_such_main_tier, "main_tier 'nowhere_"),
        (_a_misspelt_key, "Key 'seeds_vary_typo' not in 'StudyConfig'"),
        (_not_yaml, "is not valid YAML"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_broken_study_file_is_refused_with_the_file_named(tmp_path, edit, message):
    study = yaml.safe_load((CONF / "study.yaml").read_text())
    load_study()  # as the study has it, the file loads: the edit alone breaks it
    (tmp_path / "study.yaml").write_text(edit(study) or yaml.safe_dump(study, sort_keys=False))
    with pytest.raises(StudyError, match=message) as error:
        load_study(tmp_path)
    assert str(tmp_path / "study.yaml") in str(error.value)


def test_every_tier_has_a_scale_and_seeds_enough():
    study = load_study()
    assert study.main_tier in study.tiers and "smoke" in study.tiers
    for tier, settings in study.tiers.items():
        assert (CONF / "scale" / f"{tier}.yaml").is_file(), f"tier {tier} needs conf/scale/{tier}.yaml"
        assert len(settings.seeds) == len(set(settings.seeds)) >= 2


def test_a_config_file_that_is_not_yaml_is_named_with_its_line(tmp_path):
    shutil.copytree(CONF, tmp_path / "conf")
    (tmp_path / "conf/variant/ablation/broken.yaml").write_text("variant: ablation/broken\nseed: [\n")
    with pytest.raises(StudyError) as error:
        check_config_files(tmp_path / "conf")
    message = str(error.value)
    assert "broken.yaml is not valid YAML" in message and "line 3" in message
    assert len(message.splitlines()) <= 8
