"""The machinery's command line: `python -m study_machinery COMMAND ...`, one convention for all.

`--help` works for every command; a usage mistake exits 2 with the usage on stderr; any other
error is one `error:` line on stderr and exit code 1, never a traceback. The commands run from
the study's root, wherever they are typed.
"""

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError

PROG = "python -m study_machinery"


def _tier(args: argparse.Namespace, parser: argparse.ArgumentParser, default_main: bool = False) -> str:
    """The tier named on the command line, checked against conf/study.yaml."""
    from study_machinery.core.study import load_study

    study = load_study()
    return _known_tier(args.tier or (study.main_tier if default_main else None), study.tiers, parser)


def _known_tier(tier: str | None, tiers: dict, parser: argparse.ArgumentParser) -> str:
    if tier not in tiers:
        parser.error(f"argument TIER: {tier!r} is not a tier of conf/study.yaml ({', '.join(tiers)})")
    return str(tier)


def _absolute(path: str) -> Path:
    """A path given on the command line, from where it was typed (the commands then move to the root)."""
    return Path(path).resolve()


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery import contract
    from study_machinery.core.study import check_config_files
    from study_machinery.runs import execution

    check_config_files()
    contract.register_configs()
    execution.by_hand(args.overrides)
    return 0


def _executor(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[str | None, list[str]]:
    """The executor named on the command line (executor=NAME), if any, and its settings."""
    executor, overrides = None, []
    for setting in args.settings:
        if setting.startswith("executor="):
            executor = setting.removeprefix("executor=")
        elif setting.startswith("executor."):
            overrides.append(setting)
        else:
            parser.error(f"argument SETTING: {setting!r} is neither executor=NAME nor executor.KEY=VALUE")
    return executor, overrides


def tier(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery import contract
    from study_machinery.core.study import check_config_files, load_study
    from study_machinery.search.settings import refuse_missing_choices
    from study_machinery.tiers.tier import run_tier

    name = _tier(args, parser)
    executor, overrides = _executor(args, parser)
    check_config_files()
    refuse_missing_choices(load_study(), name)
    contract.register_configs()
    run_tier(name, args.rerun_all, executor, overrides, detach=args.detach, resubmit=args.resubmit)
    return 0


def tune(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery import contract
    from study_machinery.core.study import check_config_files
    from study_machinery.report.search import write_search_figure
    from study_machinery.search.ledger import summary
    from study_machinery.search.tune import tune

    name = _tier(args, parser)
    executor, overrides = _executor(args, parser)
    check_config_files()
    contract.register_configs()
    for searched in tune(name, executor, overrides):
        print(summary(name, searched.variant))
    write_search_figure(name)
    return 0


def job(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """A planned run as a cluster job runs it (`job`), or one process of a run on several (`rank`)."""
    from study_machinery import contract
    from study_machinery.runs.attempt import execute_rank
    from study_machinery.tiers.tier import run_job

    contract.register_configs()
    tier = _tier(args, parser) if args.tier is not None else None
    folder = paths.ROOT / args.folder
    if getattr(args, "attempt", None) is None:
        run_job(args.run_overrides, folder, args.identity, tier)
    else:
        execute_rank(args.run_overrides, folder, paths.ROOT / args.attempt, args.identity, tier)
    return 0


def status(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery import contract
    from study_machinery.core.study import check_config_files, load_study
    from study_machinery.tiers.status import print_status

    tiers = load_study().tiers
    names = [_known_tier(name, tiers, parser) for name in args.tiers] or list(tiers)
    check_config_files()
    contract.register_configs()
    print_status(names, args.summary)
    return 0


def aggregate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.results.aggregate import aggregate_tier

    aggregate_tier(_tier(args, parser))
    return 0


def report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.report.write import write_report

    write_report(_tier(args, parser, default_main=True))
    return 0


def readme(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.report.readme import update_readme

    return 0 if update_readme(args.readme, args.results, check=args.check) else 1


def reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.checks.reproduce import main

    return main(args.tier, keep=args.keep, report=args.report)


def fetch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.core.study import load_study
    from study_machinery.storage.fetch import fetch_raw

    print(fetch_raw(load_study().fetch_raw_data, paths.shown(paths.STUDY_FILE)))
    return 0


def push(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from study_machinery.storage.push import push

    print(push(args.targets, args.remote, args.jobs))
    return 0


def checks(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`verify`, `inputs`, `checklist` and `release`: the study checked (and released)."""
    from study_machinery.checks import checklist
    from study_machinery.release import make
    from study_machinery.storage import verify

    if args.command == "release":
        print("\n".join(make.release(args.version, with_data=not args.without_data)))
    elif args.command == "inputs":
        verify.check_inputs()
    else:
        return verify.main() if args.command == "verify" else checklist.main()
    return 0


# Every command reads the same way; its own --help says which parts it takes.
CONVENTION = """every command: COMMAND [TIER] [KEY=VALUE ...] [--FLAG ...]
  TIER       what it acts on: a tier of conf/study.yaml (default: the main tier, where optional)
  KEY=VALUE  a config's value, in Hydra's syntax: a run's (run: seed=3 model.hidden_units=[50]),
             or the executor's (tier, tune: executor=slurm executor.partition=gpu)
  --FLAG     how it acts (--rerun-all, --detach, --check, --keep, push's --target)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The study's machinery: runs, results, report, README, reproduce, checks.",
        epilog=CONVENTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(handler=handler, parser=sub, command=name)
        return sub

    sub = command("run", run, "One run of a variant, into outputs/SCALE/VARIANT/seed_SEED/.")
    sub.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides and flags")
    settings_help = "another executor than the tier's (executor=slurm), its settings (executor.partition=gpu)"
    sub = command(
        "tier", tier, "Every variant over a tier's seeds, into runs/TIER/ (the runs stage): what changed."
    )
    sub.add_argument("tier", metavar="TIER", help="a tier of conf/study.yaml")
    sub.add_argument("settings", nargs="*", metavar="SETTING", help=settings_help)
    for flag, said in (
        ("--rerun-all", "execute every run, even those whose identity still matches"),
        ("--detach", "slurm: submit and return; a later tier command collects"),
        ("--resubmit", "slurm: submit again the runs whose jobs ended unfinished"),
    ):
        sub.add_argument(flag, action="store_true", help=said)
    sub = command(
        "tune",
        tune,
        "Search each tuned variant's hyperparameters at a tier (conf/search/), on the validation split; "
        "the choices into conf/tuned/TIER/, the ledgers into results/TIER/search/.",
    )
    sub.add_argument("tier", metavar="TIER", help="a tier of conf/study.yaml with a search (search.trials)")
    sub.add_argument("settings", nargs="*", metavar="SETTING", help=settings_help)
    for name, summary in (
        ("job", "One planned run, as a cluster job runs it (what the slurm executor submits)"),
        ("rank", "One process of a run on several (distributed.processes), as PyTorch's launcher starts it"),
    ):
        sub = command(name, job, f"{summary}: only if its identity is still the one it was started with.")
        sub.add_argument(
            "run_overrides", nargs="+", metavar="KEY=VALUE", help="its overrides, seed=SEED last"
        )
        sub.add_argument("--folder", required=True, help="its run folder, from the study's root")
        if name == "rank":
            sub.add_argument("--attempt", required=True, help="the folder it executes in")
        sub.add_argument("--identity", required=True, help="the identity key it was started with")
        sub.add_argument("--tier", help="the tier it is a run of (none: a search's trial, or a run by hand)")
    sub = command("status", status, "Each run of each tier: done, stale (and why) or missing.")
    sub.add_argument("tiers", nargs="*", metavar="TIER", help="default: every tier of conf/study.yaml")
    sub.add_argument("--summary", action="store_true", help="one line per tier")
    sub = command("aggregate", aggregate, "A tier's runs into results/TIER/ (the aggregate stage).")
    sub.add_argument("tier", metavar="TIER", help="a tier of conf/study.yaml")
    sub = command("report", report, "A tier's tables and figure, into results/TIER/ (the report stage).")
    sub.add_argument("tier", metavar="TIER", nargs="?", help="default: the main tier")
    sub = command("readme", readme, "Rewrite the README's results section from the main tier's result.")
    sub.add_argument("--check", action="store_true", help="only say whether it is in sync (exit 1 if not)")
    sub.add_argument("--readme", type=_absolute, default=paths.README, help="default: README.md")
    sub.add_argument("--results", type=_absolute, help="default: the main tier's folder under results/")
    sub = command("reproduce", reproduce, "Re-run a committed tier in a clean clone and compare it.")
    sub.add_argument("tier", metavar="TIER", nargs="?", help="default: the main tier")
    sub.add_argument("--keep", action="store_true", help="keep the clean room for inspection")
    sub.add_argument("--report", type=_absolute, help="also write the checks and timings as JSON here")
    command("verify", checks, "Re-hash the DVC cache and name every corrupted object.")
    command("inputs", checks, "Check that the data the data/*.dvc files track is there (before dvc repro).")
    command("fetch", fetch, "Put data/raw in place without the DVC remote (CI): as fetch_raw_data says.")
    sub = command(
        "push",
        push,
        "Send the data and the runs to the DVC remote (dvc push), saying in one line how it went.",
    )
    # A flag, not a positional: every command takes TIER first, where it takes anything (CONVENTION).
    sub.add_argument(
        "--target", dest="targets", metavar="TARGET", action="append", default=[], help="a .dvc file or stage"
    )
    sub.add_argument("-r", "--remote", help="default: the study's default remote (.dvc/config)")
    sub.add_argument("-j", "--jobs", type=int, help="parallel transfers (default: DVC's)")
    command("checklist", checks, "The code-completeness and reproducibility items, checked.")
    sub = command("release", checks, "Check, reproduce, tag a version, and write its archive to dist/.")
    sub.add_argument("--version", required=True, help="the version, as PEP 440 writes it: 1.0.0")
    sub.add_argument("--without-data", action="store_true", help="leave the data out of the archive")
    return parser


# Commands that hand what follows their own arguments to Hydra, flags included: how many are theirs.
TO_HYDRA = {"run": 0}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    to_hydra = []
    if argv and argv[0] in TO_HYDRA and not {"-h", "--help"} & set(argv[1 : 2 + TO_HYDRA[argv[0]]]):
        own = 1 + TO_HYDRA[argv[0]]
        argv, to_hydra = argv[:own], argv[own:]
    settings = []
    if argv[:1] in (["tier"], ["tune"]):
        # The executor's settings may come before or after the flags (argparse takes them before only).
        settings = [arg for arg in argv[1:] if arg.startswith(("executor=", "executor."))]
        argv = [arg for arg in argv if arg not in settings]
    args = build_parser().parse_args(argv)
    args.overrides = to_hydra
    if settings:
        args.settings = settings
    os.chdir(paths.ROOT)
    try:
        return args.handler(args, args.parser)
    except StudyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
