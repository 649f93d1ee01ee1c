"""A hyperparameter search: every tuned variant with the same budget, over the tier's seeds, on the
validation split (tune), its space (space), its settings and their fairness (settings), its
trials (trials) and its record (ledger).
"""
