"""NKI operator objects (nl.add, nl.exp, np.add, 'add', ...) mapped to the trace's ALU ops,
activation functions and reductions. Names marked 2 need trace format 2."""
from .core import rec
from .errors import fail

_UNSUPPORTED = []  # shim.Unsupported, imported at first use (shim imports this module)

ALU = {
    "add": "add", "subtract": "sub", "sub": "sub", "multiply": "mul", "mul": "mul",
    "maximum": "max", "max": "max", "minimum": "min", "min": "min", "divide": "div",
    "true_divide": "div", "div": "div", "power": "pow", "pow": "pow", "mod": "mod", "fmod": "mod",
    "greater_equal": "ge", "greater": "gt", "less_equal": "le", "less": "lt", "equal": "eq",
    "not_equal": "ne", "ge": "ge", "gt": "gt", "le": "le", "lt": "lt", "eq": "eq", "ne": "ne",
}
ALU_V2 = {"pow", "mod", "ge", "gt", "le", "lt", "eq", "ne"}
COMMUTATIVE = {"add", "mul", "max", "min", "eq", "ne"}
#: a op b == b SWAP[op] a
SWAP = {"ge": "le", "le": "ge", "gt": "lt", "lt": "gt"}

ACT = {
    "exp": "exp", "tanh": "tanh", "sigmoid": "sigmoid", "silu": "silu", "relu": "relu",
    "gelu": "gelu_exact", "gelu_apprx_tanh": "gelu", "gelu_apprx": "gelu", "square": "square",
    "rsqrt": "rsqrt", "reciprocal": "reciprocal", "copy": "identity", "identity": "identity",
    "sqrt": "sqrt", "log": "log", "abs": "abs", "absolute": "abs", "sign": "sign", "sin": "sin",
    "cos": "cos", "softplus": "softplus", "erf": "erf",
}
ACT_V2 = {"sqrt", "log", "abs", "sign", "sin", "cos", "softplus", "erf", "gelu_exact"}
RED = {"add": "sum", "sum": "sum", "max": "max", "maximum": "max", "min": "min", "minimum": "min"}


def op_name(op):
    """The name of an operator object: our nl functions, numpy ufuncs, or strings."""
    if isinstance(op, str):
        return op
    if not _UNSUPPORTED:
        from .shim import Unsupported
        _UNSUPPORTED.append(Unsupported)
    if isinstance(op, _UNSUPPORTED[0]):
        return None
    n = getattr(op, "opname", None) or getattr(op, "__name__", None)
    if isinstance(n, str):
        return n
    return None


def lookup(table, op, construct, what):
    n = op_name(op)
    if n is None or n not in table:
        shown = n if n is not None else (getattr(op, "_name", None) or repr(op)[:40])
        fail(construct, "%s %s is not supported by trnsim's NKI front end (supported: %s)"
             % (what, shown, ", ".join(sorted(set(table)))))
    return table[n]


def alu(op, construct):
    a = lookup(ALU, op, construct, "operator")
    if a in ALU_V2:
        rec().v2 = True
    return a


def act(op, construct):
    a = lookup(ACT, op, construct, "activation function")
    if a in ACT_V2:
        rec().v2 = True
    return a


def red(op, construct):
    a = lookup(RED, op, construct, "reduction")
    if a == "min":
        rec().v2 = True
    return a


ENGINES = ("vector", "scalar", "gpsimd", "tensor", "unknown", "sync", "dma", "pool", "act", "pe")
ENGINE_ALIAS = {"pool": "gpsimd", "act": "scalar", "pe": "tensor"}


def engine(e, allowed, default, construct):
    """The engine named by `engine=`: NKI's enum members or strings; `unknown` -> default."""
    if e is None:
        return default
    n = getattr(e, "name", None) or str(e)
    n = n.lower().split(".")[-1].replace("_engine", "")
    n = ENGINE_ALIAS.get(n, n)
    if n in ("unknown", "none", ""):
        return default
    if n not in allowed:
        fail(construct, "engine=%s is not available for this instruction (%s)" % (n, " or ".join(allowed)))
    return n
