"""NumPy reference of add.py (and a deliberately wrong one, for the failing check)."""


def add_ref(a, b):
    return a + b


def wrong_ref(a, b):
    return a - b
