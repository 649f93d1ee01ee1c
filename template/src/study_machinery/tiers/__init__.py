"""A tier's runs brought up to date: what changed is executed on the tier's executor, the rest kept
(tier), with a progress line (progress).
"""
