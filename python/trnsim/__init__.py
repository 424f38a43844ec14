"""trnsim's Python side: the NKI front end (``trnsim.nki``) that the ``trnsim`` binary runs, and
``simulate``, which runs an NKI kernel on trnsim's chip model from Python.

    import trnsim
    outs, report = trnsim.simulate(kernel, a, b, hw="trn2")

Importing this package needs nothing beyond the standard library (the binary imports it to reach
the front end); ``simulate`` needs NumPy.
"""

from .api import simulate

__all__ = ["simulate"]
