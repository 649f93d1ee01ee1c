"""The study's data with DVC: put in place without the remote (fetch), sent to the remote (push),
its cache re-hashed (verify).
"""
