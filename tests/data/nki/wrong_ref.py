"""A deliberately wrong reference: the matmul plus one everywhere. `--check-against` with it
must fail (exit 1), which shows the comparison is real."""
import numpy as np


def ref_matmul_off_by_one(lhsT, rhs):
    return np.asarray(lhsT, np.float64).T @ np.asarray(rhs, np.float64) + 1.0
