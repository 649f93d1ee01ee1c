"""`python -m study_machinery COMMAND ...`: see cli.py."""

import sys

from study_machinery.cli import main

sys.exit(main())
