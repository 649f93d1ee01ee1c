"""Whether the study holds: a committed tier re-run in a clean clone and compared (reproduce,
compare), and the reproducibility checklist (checklist).
"""
