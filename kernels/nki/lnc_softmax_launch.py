"""Launching ``lnc_softmax`` as NKI code does on a logical NeuronCore of two physical cores: an
SPMD launch grid of 2, ``lnc_softmax[2](x)``, one program per core (NKI launches an LNC=2 kernel
on a grid of the LNC degree).

Run with ``trnsim nki kernels/nki/lnc_softmax_launch.py --hw trn2`` (or trn3): the front end runs
``softmax_on_two_cores``, records the kernel it launches once per program id with LNC = 2, and the
run is the same as ``trnsim nki kernels/nki/lnc_softmax.py --lnc 2``. On trn1 (one core per
logical NeuronCore), or with ``--lnc 1``, the launch line is an error.

Parameters:
    x: ``[R, C]``, R a multiple of 256, C at most 8192.
Returns:
    out: ``[R, C]`` in x's dtype (HBM).
Reference: ``kernels/nki/lnc_reference.py::ref_softmax``.
"""
from lnc_softmax import lnc_softmax


def softmax_on_two_cores(x):
    return lnc_softmax[2](x)
