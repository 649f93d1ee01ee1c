"""Fixtures of the machinery's tests, beside those of tests/conftest.py that contract.py names."""

import pytest
from omegaconf import OmegaConf

from study_machinery.core import paths
from study_machinery.runs import identity
from study_machinery.runs.plan import Planned
from study_machinery.tracking import settings as tracking_settings


@pytest.fixture(autouse=True, scope="session")
def no_trackers():
    """The tests' runs are not the study's: none of them, nor their subprocesses, reach its trackers."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(tracking_settings.SWITCH, "off")
        yield


@pytest.fixture
def planned_run(tmp_path, compose_config, smoke_overrides) -> Planned:
    """The method's first smoke run, planned as a tier plans it, into a temporary folder."""
    config = compose_config(*smoke_overrides, "seed=0")
    resolved = OmegaConf.to_container(config, resolve=True, enum_to_str=True)
    key = identity.shared().of(resolved)
    folder = paths.run_dir(tmp_path, config.variant, 0)
    overrides = [*smoke_overrides, "seed=0"]
    return Planned(config.variant, 0, folder, OmegaConf.to_object(config), resolved, key, overrides=overrides)
