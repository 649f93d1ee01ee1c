"""Executors: their settings checked before anything runs, and what the slurm executor decides
from what SLURM says. (The template's own tests run tiers on a real SLURM and a real Ray.)"""

import dataclasses
import json
import shlex
import socket
import subprocess
import sys
from dataclasses import asdict

import pytest

from study_machinery import executors
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.executors import Submission, records, slurm, slurm_jobs, slurm_submit
from study_machinery.runs import attempt
from study_machinery.tiers import tier
from study_machinery.tiers.tier import run_job

EXECUTOR_FILES = sorted((paths.CONF_DIR / "executor").glob("*.yaml"))


@pytest.mark.parametrize("path", EXECUTOR_FILES, ids=lambda path: path.stem)
def test_every_executor_file_loads_as_its_kind(path):
    executor = executors.load(path.stem)
    assert executor.settings.kind == path.stem and type(executor).__module__.endswith(f".{path.stem}")


def test_the_kinds_are_the_modules_that_define_an_executor():
    assert executors.kinds() == ["basic", "cores", "ray", "slurm"]


def test_every_tier_names_an_executor_that_loads():
    for settings in load_study().tiers.values():
        executors.load(settings.executor)


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("slurm", ["executor.partitio=gpu"], "Key 'partitio' not in 'Slurm'"),
        ("slurm", ["executor.max_parallel=many"], "could not be converted to Integer"),
        ("ray", ["executor.gpus_per_run=one"], "could not be converted to Float"),
        ("slurm", ["partition=gpu"], "an executor setting is written executor.KEY=VALUE"),
        ("slurm", ["executor.kind=ray"], "cannot be overridden"),
        ("slurm", ["executor.time_limit=4 hours"], "is not a format of sbatch's --time"),
        ("slurm", ["executor.poll_seconds=0"], "poll_seconds must be above 0"),
        ("slrum", [], "there is no conf/executor/slrum.yaml (executors: basic, cores, ray, slurm)"),
    ],
)
def test_a_mistaken_executor_setting_is_refused_before_anything_runs(name, overrides, message):
    with pytest.raises(StudyError) as refused:
        executors.load(name, overrides)
    assert message in str(refused.value)


def test_a_typo_in_an_executor_file_names_the_file(tmp_path):
    (tmp_path / "executor").mkdir()
    (tmp_path / "executor" / "cluster.yaml").write_text("kind: slurm\ntime_limt: 2:00:00\n")
    with pytest.raises(StudyError, match=r"cluster.yaml: Key 'time_limt' not in 'Slurm'"):
        executors.load("cluster", conf_dir=tmp_path)
    # Unquoted, YAML reads 4:00:00 as 14400, which sbatch would take for 14400 minutes.
    (tmp_path / "executor" / "cluster.yaml").write_text("kind: slurm\ntime_limit: 4:00:00\n")
    with pytest.raises(StudyError, match=r"cluster.yaml: write time_limit in quotes"):
        executors.load("cluster", conf_dir=tmp_path)
    (tmp_path / "executor" / "cluster.yaml").write_text("partition: gpu\n")
    with pytest.raises(StudyError, match="`kind` must be one of basic, cores, ray, slurm"):
        executors.load("cluster", conf_dir=tmp_path)


def test_a_time_limit_on_the_command_line_is_taken_as_typed():
    assert executors.load("slurm", ["executor.time_limit=4:00:00"]).settings.time_limit == "4:00:00"
    assert executors.load("slurm", ["executor.partition=3"]).settings.partition == "3"


def test_detach_and_resubmit_are_for_executors_whose_runs_outlive_the_command():
    with pytest.raises(StudyError, match=r"whose runs outlive the tier command .*, not cores"):
        tier.run_tier("smoke", executor_name="cores", detach=True)


def submitted(run_, job: str, identity: str | None = None) -> Submission:
    """What `submit` records for a run: in its attempt folder, never in the run's own."""
    submission = Submission("slurm", job, identity or run_.identity.key, f"jobs/smoke/{job}.out", "now")
    attempt = paths.attempt_dir(run_.folder)
    attempt.mkdir(parents=True, exist_ok=True)
    (attempt / paths.SUBMITTED).write_text(json.dumps(asdict(submission)))
    return submission


@pytest.fixture
def four_runs(planned_run):
    """Four copies of one planned run in folders of their own, as a tier's runs."""
    from dataclasses import replace

    return [replace(planned_run, folder=planned_run.folder.parent / f"run_{i}", seed=i) for i in range(4)]


def test_runs_are_sorted_by_what_slurm_has_of_them(four_runs, monkeypatch):
    waiting, older, ended, new = four_runs
    finished = dataclasses.replace(four_runs[0], folder=four_runs[0].folder.parent / "run_4", seed=4)
    submitted(waiting, "7_0")
    submitted(older, "7_1", identity="an older identity")
    submitted(ended, "7_2")
    submitted(finished, "7_4")
    assert attempt.execute(finished, keep=frozenset({paths.SUBMITTED})).error is None  # as its job would
    monkeypatch.setattr(slurm_jobs, "live_jobs", lambda strict=True: {"7_0": "RUNNING", "7_1": "PENDING"})
    sorted_ = records.sort([*four_runs, finished])
    assert [run_.name for run_, _ in sorted_.waiting] == [waiting.name]
    assert [(run_.name, state) for run_, _, state in sorted_.busy] == [(older.name, "PENDING")]
    assert [run_.name for run_, _ in sorted_.ended] == [ended.name]
    assert [run_.name for run_ in sorted_.new] == [new.name]
    assert [run_.name for run_ in sorted_.finished] == [finished.name]
    with pytest.raises(StudyError, match=r"still SLURM jobs.*job 7_1, PENDING.*`scancel`"):
        records.refuse_busy("smoke", sorted_.busy, "so they are not run again beside them")


def test_a_forced_rerun_does_again_the_runs_whose_jobs_finished_them(four_runs, monkeypatch):
    """--rerun-all: a finished run's record of its ended job is its history, not a reason to skip it."""
    done = four_runs[0]
    submitted(done, "8_0")
    assert attempt.execute(done, keep=frozenset({paths.SUBMITTED})).error is None  # as its job would
    assert Submission.of(done.folder).job == "8_0", "the record went along into the run's folder"
    assert not paths.attempt_dir(done.folder).exists()
    monkeypatch.setattr(slurm_jobs, "live_jobs", lambda strict=True: {})
    assert [run_.name for run_ in records.sort([done]).finished] == [done.name]
    assert [run_.name for run_ in records.sort([done], history=True).new] == [done.name]


def test_squeue_says_why_a_job_is_pending_and_a_hopeless_reason_ends_the_wait(four_runs, monkeypatch):
    said = "7_0 RUNNING None\n7_1 PENDING Resources\n7_2 PENDING BadConstraints\n7_3 PENDING (null)\n"
    answer = subprocess.CompletedProcess([], 0, said, "")
    monkeypatch.setattr(slurm_jobs, "command", lambda *args, **kwargs: answer)
    live = slurm_jobs.live_jobs()
    assert live == {
        "7_0": "RUNNING",
        "7_1": "PENDING (Resources)",
        "7_2": "PENDING (BadConstraints)",
        "7_3": "PENDING ((null))",
    }
    assert [job for job, status in live.items() if slurm_jobs.hopeless(status)] == ["7_2"]
    assert slurm_jobs.hopeless("PENDING (QOSMaxWallDurationPerJobLimit)")
    assert not slurm_jobs.hopeless("PENDING (AssocGrpCpuLimit)"), "a group's limit frees up as its jobs end"

    waiting = [(run_, submitted(run_, f"7_{i}")) for i, run_ in enumerate(four_runs[:3])]
    monkeypatch.setattr(slurm.time, "sleep", lambda seconds: None)
    seen = slurm.wait(waiting, poll_seconds=0)
    run_, why = next(seen)
    assert run_ is four_runs[2] and why.startswith("PENDING (BadConstraints), which SLURM never starts")
    assert "`scancel 7`" in why and "--resubmit" in why
    assert next(seen) == (None, "1 PENDING (Resources), 1 RUNNING"), "the progress line's states"


def test_a_job_that_finds_its_run_done_lets_it_be_and_the_tier_sees_it_finished(four_runs, monkeypatch):
    done = four_runs[0]
    assert attempt.execute(done).error is None
    submission = submitted(done, "8_1")  # a second job for it (say, submitted twice by hand)
    before = (done.folder / "metrics.json").read_bytes()
    run_job(done.overrides, done.folder, done.identity.key)
    assert (done.folder / "metrics.json").read_bytes() == before
    assert not paths.attempt_dir(done.folder).exists()
    assert records.finished_by(done, submission)


def test_a_tier_on_this_machine_never_runs_what_a_slurm_job_holds(four_runs, monkeypatch):
    submitted(four_runs[0], "9_0")
    monkeypatch.setattr(slurm_jobs, "live_jobs", lambda strict=True: {"9_0": "RUNNING"})
    monkeypatch.setattr(tier, "plan", lambda name, runs: four_runs)
    with pytest.raises(StudyError, match=r"1 runs of tier smoke are still SLURM jobs"):
        tier.run_tier("smoke", executor_name="basic")
    assert not (four_runs[0].folder / "metrics.json").exists()


def test_a_record_naming_an_executor_that_is_gone_says_so_in_a_line(four_runs):
    record = submitted(four_runs[0], "9_0")
    record.executor = "gone"
    (paths.attempt_dir(four_runs[0].folder) / paths.SUBMITTED).write_text(json.dumps(asdict(record)))
    with pytest.raises(StudyError, match=r"no executor of kind 'gone' .*delete that attempt folder"):
        records.sort(four_runs)


def test_where_slurm_does_not_answer_no_run_it_may_hold_executes(four_runs, monkeypatch):
    submitted(four_runs[0], "9_0")
    failing = subprocess.CompletedProcess([], 1, "", "squeue: error: Unable to contact slurm controller")
    monkeypatch.setattr(slurm_jobs, "command", lambda *args, **kwargs: failing)
    monkeypatch.setattr(tier, "plan", lambda name, runs: four_runs)
    with pytest.raises(StudyError, match=r"squeue failed \(squeue: error: Unable to contact slurm"):
        tier.run_tier("smoke", executor_name="basic")
    assert "SLURM job 9_0" in records.whereabouts(four_runs)[four_runs[0].name]


STOPPED = "slurmstepd: error: *** JOB 31 ON node7 CANCELLED AT 2026-01-02T03:04:05{} ***\n"


@pytest.mark.parametrize(
    ("log", "why"),
    [
        (None, "CANCELLED before it started"),
        (STOPPED.format(""), "CANCELLED"),
        (STOPPED.format(" DUE TO TIME LIMIT"), "TIMEOUT"),
        (STOPPED.format(" DUE TO PREEMPTION"), "PREEMPTED"),
        ("error: data/prepared/nowhere is missing\n", "FAILED: data/prepared/nowhere is missing"),
    ],
)
def test_why_a_job_ended_comes_from_its_log_where_slurm_has_forgotten_it(log, why, monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(slurm_jobs, "command", lambda *args, timeout=60: None)  # no sacct, no scontrol
    if log is not None:
        (tmp_path / "31_0.out").write_text(log)
    assert slurm_jobs.why_ended(Submission("slurm", "31_0", "key", "31_0.out", "now")) == why


def test_a_job_that_failed_without_a_log_names_the_node_that_cannot_see_the_study(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    shown = "JobId=31 ArrayTaskId=0\n   JobState=FAILED Reason=JobLaunchFailure\n   BatchHost=node7\n"

    def answers(*args, timeout=60):
        return subprocess.CompletedProcess(args, 0, shown, "") if args[0] == "scontrol" else None

    monkeypatch.setattr(slurm_jobs, "command", answers)
    why = slurm_jobs.why_ended(Submission("slurm", "31_0", "key", "jobs/smoke/31_0.out", "now"))
    assert why.startswith(
        "FAILED before the study's code started: SLURM could not write its log into jobs/smoke/"
    )
    assert f"on node7, so node7 most likely cannot see the study at {tmp_path}" in why


def test_the_job_script_asks_for_what_the_settings_say(four_runs, tmp_path):
    settings = executors.load(
        "slurm",
        [
            "executor.partition=gpu",
            "executor.account=lab",
            "executor.gpus_per_run=1",
            "executor.max_parallel=2",
            "executor.memory_per_run=8G",
            "executor.sbatch_options=[--qos=short]",
            "executor.setup=[module load cuda]",
        ],
    )
    text = slurm_submit.script("smoke", four_runs, settings.settings, paths.ROOT / ".venv/bin/python")
    for option in (
        "--array=0-3%2",
        "--cpus-per-task=1",
        "--mem=8G",
        "--time=1:00:00",
        "--partition=gpu",
        "--account=lab",
        "--gres=gpu:1",
        "--qos=short",
        "--output=jobs/smoke/%A_%a.out",
    ):
        assert f"#SBATCH {option}\n" in text
    assert "\nmodule load cuda\n" in text
    for index, run_ in enumerate(four_runs):
        # Each task's command line is the run's own: its overrides, its folder, its identity.
        assert f"\n  {index}) exec " in text and f"-m study_machinery {shlex.join(run_.job())} ;;" in text
    assert "export PYTHONHASHSEED=0" in text
    script = tmp_path / "job.sbatch"
    script.write_text(text)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_a_run_on_several_processes_is_given_their_cores_and_gpus_on_one_node(four_runs):
    """distributed.processes N: N times a process's cores and GPUs, for the one task that starts them."""
    two = [
        dataclasses.replace(run_, resolved={**run_.resolved, "distributed": {"processes": 2}})
        for run_ in four_runs
    ]
    threads = max(run_.resolved["threads"] for run_ in four_runs)
    assert executors.per_run(four_runs, None, 1) == (threads, 1)
    assert executors.per_run(two, None, 1) == (2 * threads, 2)
    assert executors.per_run(two, 3, 0) == (6, 0)
    settings = executors.load("slurm", ["executor.gpus_per_run=1"]).settings
    text = slurm_submit.script("smoke", two, settings, paths.ROOT / ".venv/bin/python")
    for option in ("--ntasks=1", f"--cpus-per-task={2 * threads}", "--gres=gpu:2"):
        assert f"#SBATCH {option}\n" in text


def test_a_study_on_a_filesystem_only_this_machine_sees_is_not_submitted(monkeypatch):
    settings = executors.load("slurm").settings
    python = paths.ROOT  # any path that exists stands for the environment here
    monkeypatch.setattr(slurm_submit, "filesystem", lambda path: "tmpfs")
    monkeypatch.setattr(slurm_submit, "partition_nodes", lambda partition: {socket.gethostname()})
    slurm_submit.check_shared(settings, python)  # every job runs on this machine: nothing to share
    monkeypatch.setattr(slurm_submit, "partition_nodes", lambda partition: {"node1", "node2"})
    with pytest.raises(StudyError, match=r"on a tmpfs that only this machine sees.*Nothing was submitted"):
        slurm_submit.check_shared(settings, python)


def test_a_job_runs_its_run_from_the_command_line_the_job_script_gives_it(planned_run):
    """What a SLURM task executes, through the command line: the run's overrides, folder, identity."""
    from study_machinery.cli import main

    assert main(planned_run.job()) == 0
    assert (planned_run.folder / paths.RUN_METRICS).is_file()
    recorded = json.loads((planned_run.folder / paths.RUN_RECORD).read_text())
    assert recorded["identity"]["key"] == planned_run.identity.key


def test_a_job_whose_run_changed_since_it_was_submitted_does_not_run(four_runs, monkeypatch):
    with pytest.raises(StudyError, match="changed since it was submitted, so it was not run"):
        run_job(four_runs[0].overrides, four_runs[0].folder, "the identity it was submitted with")
    assert not four_runs[0].folder.exists()


def test_a_ray_head_that_does_not_answer_fails_in_seconds(four_runs):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executor = executors.load("ray", [f"executor.address=127.0.0.1:{port}"])
    with pytest.raises(StudyError, match=r"nothing answers there.*Nothing was started"):
        executor.submit("smoke", four_runs, frozenset())


def test_the_ray_executor_without_ray_says_how_to_install_it(four_runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    with pytest.raises(StudyError, match=r"needs Ray in the study's environment: `uv sync --group ray`"):
        executors.load("ray").submit("smoke", four_runs, frozenset())
