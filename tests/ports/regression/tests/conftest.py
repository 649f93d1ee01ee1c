"""Fixtures for the tests of your research code, and for the machinery's (tests/machinery/).

The machinery's tests use those that src/study_machinery/contract.py lists: keep what it says of each.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from digits_study import fetch_data, prepare
from digits_study.config import register_configs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def compose_config() -> Callable[..., DictConfig]:
    """Compose conf/config.yaml with overrides, as a run would."""
    register_configs()

    def _compose(*overrides: str, with_hydra: bool = False) -> DictConfig:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=with_hydra)

    return _compose


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The diabetes data, prepared from scratch in a temporary folder: what a run's data.path names."""
    folder = tmp_path_factory.mktemp("data")
    fetch_data.fetch(folder / "raw")
    prepare.prepare(folder / "raw", folder / "prepared")
    return folder / "prepared"


@pytest.fixture(scope="session")
def smoke_overrides(prepared_data: Path) -> list[str]:
    """Hydra overrides that make a run take seconds on data that a fresh clone has."""
    return ["scale=smoke", f"data.path={prepared_data}"]
