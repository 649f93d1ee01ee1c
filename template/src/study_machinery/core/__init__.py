"""What every part of the machinery stands on: where the study's files are (paths), its errors,
conf/study.yaml's schema (study), a run's per-epoch scores (epochs) and provenance. It imports
nothing else of the machinery.
"""
