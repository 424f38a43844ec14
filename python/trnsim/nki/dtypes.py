"""Dtypes: NKI's names, numpy-style objects and strings, mapped to the trace's names."""
from .errors import fail


class Dtype(str):
    """A dtype name (a str, so it compares and prints as the trace's name) with NKI's finfo."""

    def __new__(cls, name, size, lo, hi):
        s = str.__new__(cls, name)
        s.size, s.min, s.max = size, lo, hi
        return s

    @property
    def itemsize(self):
        return self.size


F32 = Dtype("float32", 4, -3.4028234663852886e38, 3.4028234663852886e38)
BF16 = Dtype("bfloat16", 2, -3.3895313892515355e38, 3.3895313892515355e38)
F16 = Dtype("float16", 2, -65504.0, 65504.0)
E4M3 = Dtype("float8_e4m3", 1, -240.0, 240.0)
E5M2 = Dtype("float8_e5m2", 1, -57344.0, 57344.0)
E3M4 = Dtype("float8_e3m4", 1, -15.5, 15.5)

#: Every accepted spelling -> trace dtype. Integer and boolean dtypes are held as float32
#: (the chip model computes in floating point; iota and masks stay exact below 2^24).
ALIASES = {
    "float32": F32, "fp32": F32, "tfloat32": F32, "tf32": F32, "float": F32,
    "bfloat16": BF16, "bf16": BF16,
    "float16": F16, "fp16": F16, "half": F16,
    "float8_e4m3": E4M3, "float8_e4m3fn": E4M3, "fp8_e4m3": E4M3, "float8e4": E4M3,
    "float8_e5m2": E5M2, "fp8_e5m2": E5M2, "float8e5": E5M2,
    "float8_e3m4": E3M4, "fp8_e3m4": E3M4, "float8e3": E3M4,
    "int32": F32, "uint32": F32, "int16": F32, "uint16": F32, "int8": F32, "uint8": F32,
    "bool": F32, "bool_": F32, "int": F32, "int64": F32,
}


def dtype_of(x, construct="dtype"):
    """The trace dtype of `x`: our names, strings, numpy dtype objects or scalar types."""
    if isinstance(x, Dtype):
        return x
    for cand in (x, getattr(x, "name", None), getattr(x, "__name__", None)):
        if isinstance(cand, str):
            key = cand.lower().replace("numpy.", "").replace("np.", "")
            if key in ALIASES:
                return ALIASES[key]
    text = str(x)
    for key in (text, text.split("'")[1] if "'" in text else text):
        k = key.lower().replace("numpy.", "")
        if k in ALIASES:
            return ALIASES[k]
    fail(construct, "unknown dtype %r" % (x,))
