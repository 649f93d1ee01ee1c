"""A reproducible study: configs in conf/, pipeline in dvc.yaml, results in results/."""
