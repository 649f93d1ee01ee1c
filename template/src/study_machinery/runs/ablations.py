"""One change at a time: what an ablation changes with respect to the proposed method."""

from typing import cast

from omegaconf import DictConfig, OmegaConf

from study_machinery.core import paths

# Groups whose choice is not part of the method: which variant a run is, its size, and the file
# a search's choice is read from (conf/tuned/: its values are compared one by one, as any value).
NOT_THE_METHOD = {"variant", "scale", "tuned"}


def _leaves(node: dict, prefix: str = "") -> dict[str, object]:
    leaves: dict[str, object] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            leaves |= _leaves(value, f"{prefix}{key}.")
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def differences(proposed: DictConfig, other: DictConfig) -> list[str]:
    """Every way `other` differs from `proposed`, one line each.

    A changed group choice counts once (`augmentation: shifts -> none`), not
    once per value inside the group; any other value that differs counts on
    its own (`model.weight_decay: 0.001 -> 0.0`). Both configs must be composed
    with their Hydra config (`return_hydra_config=True`), which holds the choices.
    """
    groups = {path.name for path in paths.CONF_DIR.iterdir() if path.is_dir()} - NOT_THE_METHOD - {"hydra"}
    before, after = proposed.hydra.runtime.choices, other.hydra.runtime.choices
    changed = sorted(group for group in groups if before.get(group) != after.get(group))
    lines = [f"{group}: {before.get(group)} -> {after.get(group)}" for group in changed]

    def leaves(config: DictConfig) -> dict[str, object]:
        method = OmegaConf.masked_copy(config, [str(key) for key in config if key != "hydra"])
        return _leaves(cast(dict, OmegaConf.to_container(method, resolve=True, enum_to_str=True)))

    old, new = leaves(proposed), leaves(other)
    for key in sorted(old.keys() | new.keys()):
        owner = key.split(".", 1)[0]
        if owner in NOT_THE_METHOD or owner in changed or old.get(key) == new.get(key):
            continue
        lines.append(f"{key}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}")
    return lines


def one_change_rule(ablation: str, changes: list[str]) -> str | None:
    """Why an ablation breaks the rule of one change at a time, or None when it keeps it."""
    if len(changes) == 1:
        return None
    return f"conf/variant/{ablation}.yaml must change exactly one thing; it changes: " + (
        "; ".join(changes) or "nothing"
    )
