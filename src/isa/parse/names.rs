//! The name tables of the trace format: each enumerated value by its trace name, shared by the
//! parser (which reads them) and the printer (which writes them).

use crate::isa::{ActFunc, AluOp, CmpOp, Engine, Memory, ReduceOp};

/// Memories by trace name.
pub(super) const MEMORIES: [(&str, Memory); 3] = [
    ("hbm", Memory::Hbm),
    ("sbuf", Memory::Sbuf),
    ("psum", Memory::Psum),
];

/// Activation functions by trace name.
pub(crate) const ACT_FUNCS: [(&str, ActFunc); 19] = [
    ("identity", ActFunc::Identity),
    ("relu", ActFunc::Relu),
    ("gelu", ActFunc::Gelu),
    ("silu", ActFunc::Silu),
    ("sigmoid", ActFunc::Sigmoid),
    ("tanh", ActFunc::Tanh),
    ("exp", ActFunc::Exp),
    ("square", ActFunc::Square),
    ("rsqrt", ActFunc::Rsqrt),
    ("reciprocal", ActFunc::Reciprocal),
    ("sqrt", ActFunc::Sqrt),
    ("log", ActFunc::Log),
    ("abs", ActFunc::Abs),
    ("sign", ActFunc::Sign),
    ("sin", ActFunc::Sin),
    ("cos", ActFunc::Cos),
    ("softplus", ActFunc::Softplus),
    ("erf", ActFunc::Erf),
    ("gelu_exact", ActFunc::GeluExact),
];

/// ALU operations by trace name.
pub(crate) const ALU_OPS: [(&str, AluOp); 14] = [
    ("add", AluOp::Add),
    ("sub", AluOp::Sub),
    ("mul", AluOp::Mul),
    ("max", AluOp::Max),
    ("min", AluOp::Min),
    ("div", AluOp::Div),
    ("pow", AluOp::Pow),
    ("mod", AluOp::Mod),
    ("ge", AluOp::Ge),
    ("gt", AluOp::Gt),
    ("le", AluOp::Le),
    ("lt", AluOp::Lt),
    ("eq", AluOp::Eq),
    ("ne", AluOp::Ne),
];

/// Reductions by trace name.
pub(in crate::isa) const REDUCE_OPS: [(&str, ReduceOp); 3] = [
    ("sum", ReduceOp::Sum),
    ("max", ReduceOp::Max),
    ("min", ReduceOp::Min),
];

/// Comparisons by trace name.
pub(in crate::isa) const CMP_OPS: [(&str, CmpOp); 6] = [
    ("ge", CmpOp::Ge),
    ("gt", CmpOp::Gt),
    ("le", CmpOp::Le),
    ("lt", CmpOp::Lt),
    ("eq", CmpOp::Eq),
    ("ne", CmpOp::Ne),
];

/// Booleans by trace name.
pub(super) const BOOLS: [(&str, bool); 2] = [("true", true), ("false", false)];

/// Every engine by trace name (engine keys accept a subset).
pub(super) const ENGINES: [Engine; 5] = [
    Engine::Tensor,
    Engine::Vector,
    Engine::Scalar,
    Engine::GpSimd,
    Engine::Dma,
];

/// The trace name of a value in one of the name tables (`"?"` if absent, which no table allows).
pub(in crate::isa) fn name_of<T: PartialEq>(
    table: &[(&'static str, T)],
    value: &T,
) -> &'static str {
    table
        .iter()
        .find(|(_, v)| v == value)
        .map_or("?", |(n, _)| n)
}
