"""One run: planned (plan, identity, ablations), executed in its attempt folder (attempt) and
recorded (run).
"""
