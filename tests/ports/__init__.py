# A package, so that pytest imports tests/ports/conftest.py as ports.conftest: the template's
# tests import their helpers from tests/conftest.py as `conftest`, which this must not shadow.
