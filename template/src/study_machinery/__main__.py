"""`python -m study_machinery COMMAND ...`: see cli.py."""

import sys

from study_machinery.core.environment import rerun_with_it

# Before anything else: what a run needs set before Python starts (core/environment.py).
rerun_with_it()

from study_machinery.cli import main  # noqa: E402

sys.exit(main())
