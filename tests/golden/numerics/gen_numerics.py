#!/usr/bin/env python3
"""Generate the golden conversion vectors that `tests/numerics_golden.rs` checks bit for bit.

The reference is `ml_dtypes` (and numpy for float16), the implementation the ML world uses.
The Rust test needs no Python: it reads the `.npy` files written here.

    pip install ml_dtypes==0.6.0 numpy==2.4.6
    python3 tests/golden/numerics/gen_numerics.py

Files (all little-endian .npy):
  common_inputs.npy          uint32 f32 bit patterns used for every format:
                             all 65,536 bf16 patterns widened to f32, all 65,536 fp16 patterns as f32,
                             +-0, +-inf, NaNs, and 100,000 random f32 bit patterns (seed 20261122)
  <fmt>.extra_inputs.npy     uint32 f32 bit patterns specific to the format: every representable value,
                             the exact midpoint (tie) of every pair of adjacent values and the f32 values
                             just below and above it, values around the largest finite value, the overflow
                             threshold, the smallest subnormal and half of it
  <fmt>.nearest_ieee.npy     encoded bits for common ++ extra inputs: ml_dtypes' own cast (round to nearest
                             even, overflow to inf, or NaN where the format has no inf)
  <fmt>.nearest_saturate.npy encoded bits for clip(x, -max, max) cast the same way (NaN stays NaN): the
                             definition of the saturating mode that production kernels use
  <fmt>.decode.npy           uint32 f32 bits of every bit pattern of the format decoded
  finfo.json                 ml_dtypes.finfo / numpy.finfo facts of every format, for `trnsim dtype info`
"""
import json
import os
import sys

import ml_dtypes
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = {
    "bfloat16": (ml_dtypes.bfloat16, np.uint16),
    "float16": (np.float16, np.uint16),
    "float8_e4m3": (ml_dtypes.float8_e4m3, np.uint8),
    "float8_e4m3fn": (ml_dtypes.float8_e4m3fn, np.uint8),
    "float8_e5m2": (ml_dtypes.float8_e5m2, np.uint8),
    "float8_e3m4": (ml_dtypes.float8_e3m4, np.uint8),
}


def f32_bits(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def next_up(bits):
    """f32 bits of the next value towards +inf (for non-negative finite inputs)."""
    return bits + np.uint32(1)


def common_inputs():
    patterns16 = np.arange(65536, dtype=np.uint32)
    bf16_as_f32 = patterns16 << np.uint32(16)
    f16_as_f32 = f32_bits(patterns16.astype(np.uint16).view(np.float16).astype(np.float32))
    specials = f32_bits([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan])
    specials = np.concatenate([specials, np.array([0x7FC00001, 0x7F800001, 0xFFC12345], dtype=np.uint32)])
    rng = np.random.default_rng(20261122)
    random = rng.integers(0, 2**32, size=100_000, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([bf16_as_f32, f16_as_f32, specials, random]).astype(np.uint32)


def extra_inputs(dt, storage):
    fi = ml_dtypes.finfo(dt)
    nbits = np.dtype(storage).itemsize * 8
    all_bits = np.arange(2**nbits, dtype=np.uint32).astype(storage)
    values = all_bits.view(dt).astype(np.float64)
    finite = np.unique(np.abs(values[np.isfinite(values)]))  # sorted, non-negative, includes 0
    ulp_max = float(finite[-1] - finite[-2])
    # The would-be next value above max; its midpoint with max is the overflow threshold.
    virtual_next = float(finite[-1]) + ulp_max * (2.0 if float(finite[-1]) == 2.0 ** np.floor(np.log2(float(finite[-1]))) else 1.0)
    ladder = np.concatenate([finite, [virtual_next]])
    mids = (ladder[:-1] + ladder[1:]) / 2.0  # exact in f32 for every format here
    mids32 = f32_bits(mids)
    assert np.all(mids32.view(np.float32).astype(np.float64) == mids), "midpoint not exact in f32"
    pos = np.concatenate([
        f32_bits(finite),
        mids32,
        next_up(mids32),
        mids32 - np.uint32(1),
        f32_bits([fi.max, virtual_next, float(fi.smallest_subnormal), float(fi.smallest_subnormal) / 2]),
    ])
    around = f32_bits([fi.max, virtual_next, float(fi.smallest_subnormal), float(fi.smallest_subnormal) / 2])
    pos = np.concatenate([pos, around + np.uint32(1), around - np.uint32(1)])
    pos = pos[pos != 0xFFFFFFFF]
    both = np.concatenate([pos, pos | np.uint32(0x80000000)])
    return both.astype(np.uint32)


def encode(x_bits, dt, storage, saturate):
    x = x_bits.view(np.float32)
    if saturate:
        m = np.float32(ml_dtypes.finfo(dt).max)
        with np.errstate(invalid="ignore"):
            x = np.where(np.isnan(x), x, np.clip(x, -m, m)).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dt).view(storage)


def main():
    common = common_inputs()
    np.save(os.path.join(HERE, "common_inputs.npy"), common)
    for name, (dt, storage) in FORMATS.items():
        extra = extra_inputs(dt, storage)
        np.save(os.path.join(HERE, f"{name}.extra_inputs.npy"), extra)
        inputs = np.concatenate([common, extra])
        np.save(os.path.join(HERE, f"{name}.nearest_ieee.npy"), encode(inputs, dt, storage, False))
        np.save(os.path.join(HERE, f"{name}.nearest_saturate.npy"), encode(inputs, dt, storage, True))
        nbits = np.dtype(storage).itemsize * 8
        decoded = np.arange(2**nbits, dtype=np.uint32).astype(storage).view(dt).astype(np.float32)
        np.save(os.path.join(HERE, f"{name}.decode.npy"), decoded.view(np.uint32))
        print(f"{name}: {len(inputs)} inputs", file=sys.stderr)
    finfo = {}
    for name, dt in [("float32", np.float32)] + [(n, d) for n, (d, _) in FORMATS.items()]:
        fi = ml_dtypes.finfo(dt)
        finfo[name] = {
            "bits": int(fi.bits),
            "exponent_bits": int(fi.nexp),
            "mantissa_bits": int(fi.nmant),
            "exponent_bias": int(1 - fi.minexp),
            "max": float(fi.max),
            "smallest_normal": float(fi.smallest_normal),
            "smallest_subnormal": float(fi.smallest_subnormal),
            "eps": float(fi.eps),
        }
    with open(os.path.join(HERE, "finfo.json"), "w") as f:
        json.dump(finfo, f, indent=2)
        f.write("\n")
    print(f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
