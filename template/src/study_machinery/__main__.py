"""`python -m study_machinery COMMAND ...`: see cli.py."""

import sys

from .cli import main

sys.exit(main())
