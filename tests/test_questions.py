"""Bad answers are refused with a message that names the rule, before anything is written."""

import pytest
from conftest import QUESTIONS

BAD_ANSWERS = [
    ("project_name", "   ", "The project name must not be empty."),
    ("import_name", "../evil", "must be a lowercase Python identifier"),
    ("import_name", "My_Study", "must be a lowercase Python identifier"),
    ("import_name", "2fast", "must be a lowercase Python identifier"),
    ("import_name", "lambda", "must not be a Python keyword"),
    ("import_name", "sklearn", "must not shadow a package the study imports"),
    ("dist_name", "-study", "must follow the packaging name rules"),
    ("dist_name", "my study", "must follow the packaging name rules"),
    ("dist_name", "../../etc", "must follow the packaging name rules"),
    ("author_name", "Ada <ada@example.org>", "contain no '<' or '>'"),
    ("author_email", "not-an-email", "must look like name@domain.tld"),
    ("n_seeds", 1, "between 2 and 20"),
    ("n_seeds", 21, "between 2 and 20"),
]


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
