"""Every variant composes at every scale, every ablation changes one thing, and the tiers
of conf/study.yaml are sound."""

import shutil

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from study_machinery import paths
from study_machinery.ablations import differences, one_change_rule
from study_machinery.errors import StudyError
from study_machinery.study import METHOD, check_config_files, load_study, variants

CONF = paths.CONF_DIR
# Not groups of a run's config: the variants are tested apart, and the executors
# (test_executors.py) say where runs execute, not what they compute.
NOT_SWAPPABLE = {"variant", "hydra", "executor"}
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


def test_the_one_change_check_names_every_difference(compose_config):
    proposed = compose_config(with_hydra=True)
    # Another option of the first group that has one, and a value of the contract's own.
    group = next(
        group for group in GROUPS if group != "scale" and len(list((CONF / group).glob("*.yaml"))) > 1
    )
    chosen = proposed.hydra.runtime.choices[group]
    other = next(path.stem for path in sorted((CONF / group).glob("*.yaml")) if path.stem != chosen)
    changed = compose_config(f"{group}={other}", f"threads={proposed.threads + 1}", with_hydra=True)
    assert differences(proposed, changed) == [
        f"{group}: {chosen} -> {other}",
        f"threads: {proposed.threads} -> {proposed.threads + 1}",
    ]


def test_the_proposed_method_is_the_default_and_comes_first(compose_config):
    assert OmegaConf.to_object(compose_config()).variant == METHOD
    assert variants()[0] == METHOD


def test_seed_zero_is_a_seed(compose_config):
    assert compose_config("seed=0").seed == 0


def test_an_unknown_variant_fails_at_compose_time(compose_config):
    with pytest.raises(ConfigCompositionException, match="Could not find 'variant/ablation/no_such_thing'"):
        compose_config("variant=ablation/no_such_thing")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("seeds: [0, 1]", "seeds: [0, 1, 1]"), "tier 'smoke' lists a seed twice"),
        (("seeds: [0, 1]", "seeds: [0]"), "tier 'smoke' needs two seeds or more"),
        (("main_tier: ", "main_tier: nowhere_"), "main_tier 'nowhere_"),
        (("seeds_vary:", "seeds_vary_typo:"), "Key 'seeds_vary_typo' not in 'StudyConfig'"),
        (("tiers:", "tiers: ["), "is not valid YAML"),
    ],
)
def test_a_broken_study_file_is_refused_with_the_file_named(tmp_path, edit, message):
    text = (CONF / "study.yaml").read_text()
    assert edit[0] in text
    (tmp_path / "study.yaml").write_text(text.replace(edit[0], edit[1], 1))
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
    (tmp_path / "conf/variant/ablation/broken.yaml").write_text("variant: ablation/broken\nmodel: [\n")
    with pytest.raises(StudyError) as error:
        check_config_files(tmp_path / "conf")
    message = str(error.value)
    assert "broken.yaml is not valid YAML" in message and "line 3" in message
    assert len(message.splitlines()) <= 8
