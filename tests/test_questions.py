"""Bad answers are refused with a message that names the rule, before anything is written."""

import keyword
import re
import sys
import sysconfig
from pathlib import Path

import copier
import pytest
from conftest import CONFIG, QUESTIONS

BAD_ANSWERS = [
    ("project_name", "   ", "The project name must not be empty."),
    ("import_name", "../evil", "must be a lowercase Python identifier"),
    ("import_name", "My_Study", "must be a lowercase Python identifier"),
    ("import_name", "2fast", "must be a lowercase Python identifier"),
    ("import_name", "lambda", "must not be a Python keyword"),
    ("import_name", "sklearn", "must not be that of a module the study imports or Python provides"),
    ("import_name", "json", "must not be that of a module the study imports or Python provides"),
    # A package of the standard library that sys.stdlib_module_names leaves out.
    ("import_name", "test", "must not be that of a module the study imports or Python provides"),
    # Not installed in a scikit-learn study, but imported by its libraries wherever it is.
    ("import_name", "torch", "must not be that of a module the study imports or Python provides"),
    ("import_name", "logging", "Try logging_study."),
    ("import_name", "x" * 65, "at most 64 characters"),
    ("project_name", "My study\n", "must fit on one line"),
    ("project_name", "x" * 101, "at most 100 characters"),
    ("dist_name", "my-study\n", "must follow the packaging name rules"),
    ("author_email", "ada@example.org\n", "must look like name@domain.tld"),
    ("dvc_remote", "/data/dvc #storage", "must not contain ' #'"),
    ("dvc_remote", " /data/dvc", "must not start or end with a space"),
    ("dist_name", "-study", "must follow the packaging name rules"),
    ("dist_name", "my study", "must follow the packaging name rules"),
    ("dist_name", "../../etc", "must follow the packaging name rules"),
    ("author_name", "Ada <ada@example.org>", "contain no '<' or '>'"),
    ("author_email", "not-an-email", "must look like name@domain.tld"),
    ("n_seeds", 1, "between 2 and 20"),
    ("n_seeds", 21, "between 2 and 20"),
]


# A remote's address must fit its kind, and hold no password.
BAD_REMOTES = [
    ("local", "s3://bucket/study", "dvc_remote", "A local remote is a folder, not a URL: for s3://"),
    ("s3", "/srv/dvc", "dvc_remote", "An S3 remote is s3://bucket/path"),
    ("s3", "s3://My_Bucket/study", "dvc_remote", "An S3 remote is s3://bucket/path"),
    ("gs", "s3://bucket/study", "dvc_remote", "A Google Cloud Storage remote is gs://bucket/path"),
    ("azure", "azure://c/study", "dvc_remote", "An Azure remote is azure://container/path"),
    ("ssh", "ssh://host", "dvc_remote", "An SSH remote is ssh://[user@]host[:port]/path"),
    ("ssh", "ssh://ada:hunter2@host/srv/dvc", "dvc_remote", "must not hold a password"),
    ("s3", "s3://bucket/study", "dvc_remote_endpoint", "must be an http:// or https:// URL"),
    ("azure", "azure://container/study", "dvc_remote_azure_account", "3 to 24 lowercase letters and digits"),
]
BAD_SETTINGS = {"dvc_remote_endpoint": "minio.example.org:9000", "dvc_remote_azure_account": "My-Account"}


@pytest.mark.parametrize(("kind", "remote", "question", "message"), BAD_REMOTES)
def test_a_remote_that_does_not_fit_its_kind_is_refused(generate, kind, remote, question, message):
    answers = {"dvc_remote_kind": kind, "dvc_remote": remote, "record_first_result": False}
    if question in BAD_SETTINGS:
        answers[question] = BAD_SETTINGS[question]
    with pytest.raises(ValueError, match=f"Validation error for question '{question}'") as error:
        generate(**answers)
    assert message in str(error.value)


@pytest.mark.parametrize(("question", "answer", "message"), BAD_ANSWERS)
def test_a_bad_answer_is_refused_with_its_rule(generate, tmp_path, question, answer, message):
    with pytest.raises(ValueError, match=f"Validation error for question '{question}'") as error:
        generate(**{question: answer, "record_first_result": False})
    assert message in str(error.value)


@pytest.mark.parametrize(("question", "answer"), [("license", "WTFPL"), ("python_version", "3.9")])
def test_an_answer_outside_the_choices_is_refused(generate, question, answer):
    with pytest.raises(ValueError, match=r"Invalid choice|not a valid choice|Validation error"):
        generate(**{question: answer, "record_first_result": False})


def test_every_question_says_what_its_answer_is_for():
    for name, spec in QUESTIONS.items():
        assert len(spec.get("help", "")) > 30, f"{name} needs a help text"


def test_defaults_derive_from_earlier_answers(generate):
    study = generate(project_name="Sparse Attention 2027", record_first_result=False)
    answers = (study / ".copier-answers.yml").read_text()
    assert "import_name: sparse_attention_2027" in answers
    assert "dist_name: sparse-attention-2027" in answers
    assert (study / "src" / "sparse_attention_2027" / "experiment.py").is_file()


def free_text_questions() -> list[str]:
    return [name for name, spec in QUESTIONS.items() if spec.get("type") == "str" and "choices" not in spec]


# The answers a question needs before it is asked, and a good answer to each.
CONTEXT = {
    "dvc_remote_endpoint": {"dvc_remote_kind": "s3", "dvc_remote": "s3://bucket/study"},
    "dvc_remote_azure_account": {"dvc_remote_kind": "azure", "dvc_remote": "azure://container/study"},
}
GOOD = {
    "project_name": "My Study",
    "import_name": "my_study",
    "dist_name": "my-study",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.org",
    "dvc_remote": "/srv/dvc",
    "dvc_remote_endpoint": "https://minio.example.org:9000",
    "dvc_remote_azure_account": "labstorage",
}
# Empty means "Amazon S3 itself", not a missing answer.
MAY_BE_EMPTY = {"dvc_remote_endpoint"}


def corpus() -> list[pytest.param]:
    """Bad answers of each kind for every free-text question of copier.yml: a trailing line break
    after a good answer, a very long one, and an empty one (where empty means nothing)."""
    cases = []
    for name in free_text_questions():
        bad = [("newline", GOOD[name] + "\n"), ("long", "x" * 2000)]
        bad += [] if name in MAY_BE_EMPTY else [("empty", "")]
        for kind, answer in bad:
            cases.append(pytest.param(name, answer, id=f"{name}-{kind}"))
    return cases


@pytest.mark.parametrize(("question", "answer"), corpus())
def test_every_free_text_question_refuses_each_kind_of_bad_answer(template, tmp_path, question, answer):
    destination = tmp_path / "out" / "study"
    with pytest.raises(ValueError, match=f"Validation error for question '{question}': The "):
        copier.run_copy(
            str(template),
            destination,
            data={**CONTEXT.get(question, {}), question: answer, "record_first_result": False},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert list(tmp_path.iterdir()) == [], "nothing is written, in the destination or beside it"


def test_the_corpus_covers_every_free_text_question():
    assert set(free_text_questions()) == {
        "project_name",
        "import_name",
        "dist_name",
        "author_name",
        "author_email",
        "dvc_remote",
        "dvc_remote_endpoint",
        "dvc_remote_azure_account",
    }


def test_no_python_module_can_be_the_import_name():
    reserved = set(CONFIG["reserved_import_names"]["default"])
    folder = Path(sysconfig.get_paths()["stdlib"])
    packages = {path.parent.name for path in folder.glob("*/__init__.py")}
    modules = {path.stem for path in folder.glob("*.py")}
    names = set(sys.stdlib_module_names) | packages | modules
    stdlib = {name for name in names if re.fullmatch(r"[a-z_][a-z0-9_]*", name)}
    missing = sorted(stdlib - reserved)
    assert not missing, f"run `uvx nox -s reserved_names -- STUDY`: {missing} are missing"
    assert not reserved & set(keyword.kwlist), "keywords are refused by their own rule"


@pytest.mark.parametrize(
    ("project_name", "import_name"),
    [
        ("Études à Zoë", "etudes_a_zoe"),
        ("Straße der Œuvre", "strasse_der_oeuvre"),
        ("2027: Łódź", "lodz"),
        ("数字研究", "study"),
        ("Sparse attention " * 10, ("sparse_attention_" * 4)[:64].rstrip("_")),
    ],
)
def test_the_default_import_name_passes_its_own_rule(generate, project_name, import_name):
    study = generate(project_name=project_name[:100].strip(), record_first_result=False)
    answers = (study / ".copier-answers.yml").read_text()
    assert f"import_name: {import_name}\n" in answers
    assert (study / "src" / import_name / "experiment.py").is_file()


@pytest.mark.parametrize(("question", "answer"), [("n_seeds", "abc"), ("n_seeds", "3.5")])
def test_copier_refuses_a_number_that_is_not_one_and_writes_nothing(template, tmp_path, question, answer):
    """Copier converts the answer before any validator sees it: its message does not name the
    question (docs/getting-started.md says so), but nothing is written."""
    with pytest.raises(ValueError, match="invalid literal for int"):
        copier.run_copy(
            str(template),
            tmp_path / "out" / "study",
            data={**CONTEXT.get(question, {}), question: answer, "record_first_result": False},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert list(tmp_path.iterdir()) == []
