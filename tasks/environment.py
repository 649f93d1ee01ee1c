"""What a study's own commands must not inherit from the process that starts them.

nox (and any activated virtual environment) sets these for its own processes; a study's
uv would then install into that environment, or run on its Python. The copy-time task, the
template's tests, its noxfile and its benchmarks all start study commands, and all take the
list from here.
"""

OUTER_ENVIRONMENT = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON")


def without_outer(environ: dict[str, str]) -> dict[str, str]:
    """A copy of `environ` without the outer environment's variables."""
    return {key: value for key, value in environ.items() if key not in OUTER_ENVIRONMENT}
