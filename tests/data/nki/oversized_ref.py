"""NumPy reference of oversized_blocks.py."""
import numpy as np


def ref_oversized(x):
    return 2.0 * np.asarray(x, np.float64) + 1.0
