"""Your research: the config schema, the data, the models and one run as a pure function.

The study's machinery (src/study_machinery/, from the template) runs, aggregates and
reports this code through `config.register_configs` and `experiment.run`; nothing here
imports it. See src/study_machinery/contract.py for the whole contract.
"""
