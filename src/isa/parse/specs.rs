//! The opcode table: every opcode's keys, in canonical order, and how its [`Op`] is built from
//! their values (defaults included).

use super::LResult;
use super::instr::{Kind, MAX_KEYS, Slots, Value};
use crate::isa::{Activation, DmaQueue, Op, OpKind, Scalar, TensorScalar};

/// An opcode: its keys in canonical order and how to build the op from their values.
pub(super) struct Spec {
    pub(super) kind: OpKind,
    pub(super) keys: &'static [(&'static str, Kind)],
    pub(super) build: fn(&mut Slots) -> LResult<Op>,
}

/// Take a required value of variant `$v` from slot `$i`.
macro_rules! req {
    ($s:ident, $i:expr, $v:ident) => {
        match $s.vals[$i].take() {
            Some(Value::$v(x)) => x,
            other => return Err($s.bad($i, other.is_none())),
        }
    };
}

/// Take an optional value of variant `$v` from slot `$i`.
macro_rules! opt {
    ($s:ident, $i:expr, $v:ident) => {
        match $s.vals[$i].take() {
            Some(Value::$v(x)) => Some(x),
            None => None,
            Some(_) => return Err($s.bad($i, false)),
        }
    };
}

/// Every opcode, in the order error messages list them.
pub(super) const SPECS: [Spec; 13] = [
    Spec {
        kind: OpKind::DmaCopy,
        keys: &[
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("queue", Kind::Queue),
        ],
        build: |s| {
            Ok(Op::DmaCopy {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
                queue: opt!(s, 2, Queue).unwrap_or(DmaQueue {
                    engine: 0,
                    queue: 0,
                }),
            })
        },
    },
    Spec {
        kind: OpKind::Matmul,
        keys: &[
            ("dst", Kind::Tile),
            ("stationary", Kind::Tile),
            ("moving", Kind::Tile),
            ("accumulate", Kind::Bool),
        ],
        build: |s| {
            Ok(Op::Matmul {
                dst: req!(s, 0, Tile),
                stationary: req!(s, 1, Tile),
                moving: req!(s, 2, Tile),
                accumulate: opt!(s, 3, Bool).unwrap_or(false),
            })
        },
    },
    Spec {
        kind: OpKind::Transpose,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::Transpose {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::Activation,
        keys: &[
            ("func", Kind::Func),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("scale", Kind::Scalar),
            ("bias", Kind::Scalar),
            ("reduce", Kind::Red),
            ("reduce_dst", Kind::Tile),
        ],
        build: |s| {
            let func = req!(s, 0, Func);
            let dst = req!(s, 1, Tile);
            let src = req!(s, 2, Tile);
            let scale = opt!(s, 3, Scalar).unwrap_or(Scalar::Imm(1.0));
            let bias = opt!(s, 4, Scalar).unwrap_or(Scalar::Imm(0.0));
            let (r, rd) = (opt!(s, 5, Red), opt!(s, 6, Tile));
            let reduce = s.pair(r, 5, rd, 6)?;
            Ok(Op::Activation(Box::new(Activation {
                func,
                dst,
                src,
                scale,
                bias,
                reduce,
            })))
        },
    },
    Spec {
        kind: OpKind::TensorTensor,
        keys: &[
            ("engine", Kind::Engine),
            ("op", Kind::Alu),
            ("dst", Kind::Tile),
            ("a", Kind::Tile),
            ("b", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorTensor {
                engine: s.engine(0)?,
                op: req!(s, 1, Alu),
                dst: req!(s, 2, Tile),
                a: req!(s, 3, Tile),
                b: req!(s, 4, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::TensorScalar,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("op0", Kind::Alu),
            ("scalar0", Kind::Scalar),
            ("op1", Kind::Alu),
            ("scalar1", Kind::Scalar),
        ],
        build: |s| {
            let engine = s.engine(0)?;
            let dst = req!(s, 1, Tile);
            let src = req!(s, 2, Tile);
            let op0 = (req!(s, 3, Alu), req!(s, 4, Scalar));
            let (o1, s1) = (opt!(s, 5, Alu), opt!(s, 6, Scalar));
            let op1 = s.pair(o1, 5, s1, 6)?;
            Ok(Op::TensorScalar(Box::new(TensorScalar {
                engine,
                dst,
                src,
                op0,
                op1,
            })))
        },
    },
    Spec {
        kind: OpKind::TensorReduce,
        keys: &[
            ("engine", Kind::Engine),
            ("op", Kind::Red),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorReduce {
                engine: s.engine(0)?,
                op: req!(s, 1, Red),
                dst: req!(s, 2, Tile),
                src: req!(s, 3, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::TensorCopy,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::TensorCopy {
                engine: s.engine(0)?,
                dst: req!(s, 1, Tile),
                src: req!(s, 2, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::Memset,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("value", Kind::F32),
        ],
        build: |s| {
            Ok(Op::Memset {
                engine: s.engine(0)?,
                dst: req!(s, 1, Tile),
                value: opt!(s, 2, F32).unwrap_or(0.0),
            })
        },
    },
    Spec {
        kind: OpKind::Iota,
        keys: &[
            ("dst", Kind::Tile),
            ("base", Kind::I64),
            ("channel_multiplier", Kind::I64),
            ("step", Kind::I64),
        ],
        build: |s| {
            Ok(Op::Iota {
                dst: req!(s, 0, Tile),
                base: opt!(s, 1, I64).unwrap_or(0),
                channel_multiplier: opt!(s, 2, I64).unwrap_or(0),
                step: opt!(s, 3, I64).unwrap_or(1),
            })
        },
    },
    Spec {
        kind: OpKind::AffineSelect,
        keys: &[
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("cmp", Kind::Cmp),
            ("base", Kind::I64),
            ("channel_multiplier", Kind::I64),
            ("step", Kind::I64),
            ("fill", Kind::F32),
        ],
        build: |s| {
            Ok(Op::AffineSelect {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
                cmp: req!(s, 2, Cmp),
                base: opt!(s, 3, I64).unwrap_or(0),
                channel_multiplier: opt!(s, 4, I64).unwrap_or(0),
                step: opt!(s, 5, I64).unwrap_or(1),
                fill: req!(s, 6, F32),
            })
        },
    },
    Spec {
        kind: OpKind::BnStats,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::BnStats {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::BnAggr,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::BnAggr {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
];

/// The row of each opcode in [`SPECS`]. The match is exhaustive, so a new [`OpKind`] does not
/// compile until it has a row here (and so a way to be read from a trace).
const fn row(kind: OpKind) -> usize {
    match kind {
        OpKind::DmaCopy => 0,
        OpKind::Matmul => 1,
        OpKind::Transpose => 2,
        OpKind::Activation => 3,
        OpKind::TensorTensor => 4,
        OpKind::TensorScalar => 5,
        OpKind::TensorReduce => 6,
        OpKind::TensorCopy => 7,
        OpKind::Memset => 8,
        OpKind::Iota => 9,
        OpKind::AffineSelect => 10,
        OpKind::BnStats => 11,
        OpKind::BnAggr => 12,
    }
}

/// Checked at compile time: every row of [`SPECS`] is where [`row`] says, and every opcode's
/// keys fit the slot array.
const _: () = {
    let mut i = 0;
    while i < SPECS.len() {
        assert!(row(SPECS[i].kind) == i);
        assert!(SPECS[i].keys.len() <= MAX_KEYS);
        i += 1;
    }
};
