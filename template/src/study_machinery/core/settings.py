"""A file of settings under conf/ read against its schema (a dataclass), with the file named in
any error: conf/study.yaml (study.py) and conf/tracking.yaml (tracking/settings.py) are read so.
"""

from pathlib import Path

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from study_machinery.core import paths
from study_machinery.core.errors import StudyError


def read_settings(path: Path, schema: type):
    """A YAML file of settings, checked against its schema (a dataclass); StudyError naming the file."""
    shown = paths.shown(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise StudyError(f"{shown} cannot be read: {error.strerror}.") from None
    except yaml.YAMLError as error:
        raise StudyError(f"{shown} is not valid YAML: {error}") from None
    if not isinstance(content, dict):
        raise StudyError(f"{shown} should hold settings, `key: value` lines, not {content!r}.")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), content))
    except MissingMandatoryValue as error:
        raise StudyError(
            f"{shown} lacks `{error.full_key}`: add it back; each setting the template wrote there is read "
            "(docs/configs.md)."
        ) from None
    except OmegaConfBaseException as error:
        # OmegaConf's first line names the key and the problem; the rest is its internals.
        raise StudyError(f"{shown}: {str(error).splitlines()[0]}") from None
