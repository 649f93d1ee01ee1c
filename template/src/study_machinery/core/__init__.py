"""What every part of the machinery stands on: where the study's files are (paths), its errors,
conf/study.yaml's schema (study), reading a settings file against its schema (settings), a
run's per-epoch scores (epochs), its provenance, and the environment every run is started
with (environment). It imports nothing else of the machinery.
"""
