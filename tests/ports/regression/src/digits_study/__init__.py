"""Your research: the config schema, the data, the models and one run as a pure function.

This study predicts disease progression one year after baseline from ten measurements of
442 diabetes patients (scikit-learn's diabetes data), with gradient-boosted trees against a
mean predictor and ridge regression. The package keeps the name it was generated with;
docs/your-own-task.md says how to rename it.

The study's machinery (src/study_machinery/, from the template) runs, aggregates and
reports this code through `config.register_configs` and `experiment.run`; nothing here
imports it. See src/study_machinery/contract.py for the whole contract.
"""
