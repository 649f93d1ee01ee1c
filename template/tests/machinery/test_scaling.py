"""Does it scale? Each variant's difference from the method at every tier beyond smoke, once two
are recorded: a table and a figure in results/scaling/, in the README's results section."""

import dataclasses
import json
import shutil

import pytest

from study_machinery.core import paths
from study_machinery.core.study import METHOD, load_study
from study_machinery.report import readme, scaling

STUDY = load_study()


@pytest.fixture
def two_tiers(tmp_path, monkeypatch):
    """The recorded main tier, and a copy of it as a larger tier whose first variant differs."""
    results = tmp_path / "results"
    main = paths.results_dir(STUDY.main_tier)
    shutil.copytree(main, results / STUDY.main_tier)
    shutil.copytree(main, results / "larger")
    comparisons_file = results / "larger" / paths.COMPARISONS
    comparisons = json.loads(comparisons_file.read_text(encoding="utf-8"))
    first = next(iter(comparisons))
    comparisons[first][STUDY.main_metric]["paired"] |= {"difference": 0.5, "ci_low": 0.25, "ci_high": 0.75}
    comparisons_file.write_text(json.dumps(comparisons), encoding="utf-8")
    monkeypatch.setattr(paths, "RESULTS_DIR", results)
    monkeypatch.setattr(paths, "SCALING_DIR", results / "scaling")
    tiers = {**STUDY.tiers, "larger": STUDY.tiers[STUDY.main_tier]}
    return dataclasses.replace(STUDY, tiers=tiers), first


def test_two_tiers_beyond_smoke_give_a_table_and_a_figure_of_each_difference_at_each_tier(two_tiers):
    study, first = two_tiers
    tiers = scaling.recorded_tiers(study)
    assert [recorded.tier for recorded in tiers] == [STUDY.main_tier, "larger"], "smoke is left out"
    table = scaling.markdown(tiers)
    assert table.startswith(f"| vs. {METHOD} | {STUDY.main_tier} | larger |\n")
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    assert set(rows) - {f"vs. {METHOD}"} == set(tiers[0].comparisons)
    # Each tier's cell is its own record's: the larger tier's first variant was made better.
    better = "better" if study.metrics[study.main_metric].better.value == "higher" else "worse"
    assert rows[first].endswith(f"| +0.5000 [+0.2500, +0.7500], {better} |"), rows[first]
    main = tiers[0].comparisons[first][study.main_metric]["paired"]
    assert f"| {main['difference']:+.4f} [{main['ci_low']:+.4f}, {main['ci_high']:+.4f}], " in rows[first]
    assert f"in {study.main_metric}, the main metric" in table and "paired by seed" in table
    scaling.write(study)
    for name in (paths.TABLE_MD, paths.TABLE_TEX, f"{paths.FIGURE}.png", f"{paths.FIGURE}.pdf"):
        assert (paths.SCALING_DIR / name).is_file(), name
    assert (paths.SCALING_DIR / paths.TABLE_MD).read_text(encoding="utf-8") == table
    assert r"\label{tab:scaling}" in (paths.SCALING_DIR / paths.TABLE_TEX).read_text(encoding="utf-8")
    # In the README's results section, after the main tier's tables and figures.
    text = f"# A study\n\n{readme.BEGIN}\n{readme.END}\n"
    synced = readme.synced(text, study, paths.ROOT / "README.md", paths.results_dir(STUDY.main_tier))
    assert table.rstrip("\n") in synced and synced.index(table.rstrip("\n")) > synced.index("![Learning")


def test_with_one_tier_beyond_smoke_there_is_no_scaling_and_what_was_drawn_goes(two_tiers):
    study, _ = two_tiers
    scaling.write(study)
    assert paths.SCALING_DIR.is_dir()
    one = dataclasses.replace(
        study, tiers={name: tier for name, tier in study.tiers.items() if name != "larger"}
    )
    assert len(scaling.write(one)) == 1 and not paths.SCALING_DIR.exists()
    text = f"# A study\n\n{readme.BEGIN}\n{readme.END}\n"
    synced = readme.synced(text, one, paths.ROOT / "README.md", paths.results_dir(STUDY.main_tier))
    assert "Does it scale?" not in synced
