"""The template's machinery: runs, statistics, tables, figure, README section, reproduce.

This package comes from the reproducible-research template and `copier update` keeps it
current: edit your research code in the package beside it instead. It reaches your code
through `contract.py` alone, and your code never imports it. `python -m study_machinery
--help` lists its commands.
"""
