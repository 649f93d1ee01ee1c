"""The ports are trees of a study's files, laid over a generated study by tests/test_own_task.py.

Their tests are the study's own: they import the study's package and run there, never here.
"""

collect_ignore_glob = ["*/**"]
