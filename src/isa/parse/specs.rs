//! The opcode table: every opcode's keys, in canonical order, and how its [`Op`] is built from
//! their values (defaults included); and the slots an instruction line fills, which the table
//! reads (so `instr`, the line reader, depends on this module and not the other way round).

use super::LResult;
use super::{Fail, fail};
use crate::isa::{
    ActFunc, Activation, AluOp, CmpOp, DmaQueue, Engine, Exponential, MxMatmul, Op, OpKind, PeTile,
    ReduceOp, Scalar, TensorScalar, TensorTensorScan, Tile, TiledMatmul,
};

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
pub(super) const SPECS: [Spec; 17] = [
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
            ("tile_position", Kind::Pair),
            ("tile_size", Kind::Pair),
            ("stationary_scale", Kind::Tile),
            ("moving_scale", Kind::Tile),
            ("mx", Kind::Mx),
        ],
        build: |s| {
            let (dst, stationary, moving) = (req!(s, 0, Tile), req!(s, 1, Tile), req!(s, 2, Tile));
            let accumulate = opt!(s, 3, Bool).unwrap_or(false);
            let (pos, size) = (opt!(s, 4, Pair), opt!(s, 5, Pair));
            let (ss, ms) = (opt!(s, 6, Tile), opt!(s, 7, Tile));
            let scales = s.pair(ss, 6, ms, 7)?;
            let format = opt!(s, 8, Mx);
            if let Some((stationary_scale, moving_scale)) = scales {
                let Some(format) = format else {
                    return Err(s.bad(8, true));
                };
                if pos.is_some() || size.is_some() {
                    let at = if pos.is_some() { 4 } else { 5 };
                    let msg = "an MX matmul runs on the whole PE array here (its row tiling \
                               is not modeled): drop tile_position and tile_size"
                        .to_string();
                    return Err(fail(s.pos[at], msg));
                }
                return Ok(Op::MatmulMx(Box::new(MxMatmul {
                    dst,
                    stationary,
                    moving,
                    stationary_scale,
                    moving_scale,
                    format,
                    accumulate,
                })));
            }
            if format.is_some() {
                let msg = "key 'mx' needs 'stationary_scale' and 'moving_scale'".to_string();
                return Err(fail(s.pos[8], msg));
            }
            Ok(match s.pair(pos, 4, size, 5)? {
                None => Op::Matmul {
                    dst,
                    stationary,
                    moving,
                    accumulate,
                },
                Some(((row, col), (rows, cols))) => Op::MatmulTile(Box::new(TiledMatmul {
                    dst,
                    stationary,
                    moving,
                    accumulate,
                    tile: PeTile {
                        row,
                        col,
                        rows,
                        cols,
                    },
                })),
            })
        },
    },
    Spec {
        kind: OpKind::Transpose,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("background", Kind::Bool),
        ],
        build: |s| {
            let (engine, dst, src) = (s.engine(0)?, req!(s, 1, Tile), req!(s, 2, Tile));
            match opt!(s, 3, Bool) {
                Some(true) if engine != Engine::Tensor => Err(fail(
                    s.pos[3],
                    "a background transpose runs on the tensor engine".to_string(),
                )),
                Some(true) => Ok(Op::TransposeBg { dst, src }),
                _ => Ok(Op::Transpose { engine, dst, src }),
            }
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
            ("reverse0", Kind::Bool),
            ("reverse1", Kind::Bool),
        ],
        build: |s| {
            let engine = s.engine(0)?;
            let dst = req!(s, 1, Tile);
            let src = req!(s, 2, Tile);
            let op0 = (req!(s, 3, Alu), req!(s, 4, Scalar));
            let (o1, s1) = (opt!(s, 5, Alu), opt!(s, 6, Scalar));
            let op1 = s.pair(o1, 5, s1, 6)?;
            let reverse = [
                opt!(s, 7, Bool).unwrap_or(false),
                opt!(s, 8, Bool).unwrap_or(false),
            ];
            Ok(Op::TensorScalar(Box::new(TensorScalar {
                engine,
                dst,
                src,
                op0,
                op1,
                reverse,
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
    Spec {
        kind: OpKind::Reciprocal,
        keys: &[("dst", Kind::Tile), ("src", Kind::Tile)],
        build: |s| {
            Ok(Op::Reciprocal {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
            })
        },
    },
    Spec {
        kind: OpKind::TensorTensorScan,
        keys: &[
            ("engine", Kind::Engine),
            ("dst", Kind::Tile),
            ("a", Kind::Tile),
            ("b", Kind::Tile),
            ("initial", Kind::Scalar),
            ("op0", Kind::Alu),
            ("op1", Kind::Alu),
        ],
        build: |s| {
            Ok(Op::TensorTensorScan(Box::new(TensorTensorScan {
                engine: s.engine(0)?,
                dst: req!(s, 1, Tile),
                a: req!(s, 2, Tile),
                b: req!(s, 3, Tile),
                initial: req!(s, 4, Scalar),
                op0: req!(s, 5, Alu),
                op1: req!(s, 6, Alu),
            })))
        },
    },
    Spec {
        kind: OpKind::Exponential,
        keys: &[
            ("dst", Kind::Tile),
            ("src", Kind::Tile),
            ("max_value", Kind::Scalar),
            ("reduce_dst", Kind::Tile),
        ],
        build: |s| {
            Ok(Op::Exponential(Box::new(Exponential {
                dst: req!(s, 0, Tile),
                src: req!(s, 1, Tile),
                max_value: opt!(s, 2, Scalar).unwrap_or(Scalar::Imm(0.0)),
                reduce_dst: opt!(s, 3, Tile),
            })))
        },
    },
    Spec {
        kind: OpKind::CoreBarrier,
        keys: &[("data", Kind::Tile)],
        build: |s| {
            Ok(Op::CoreBarrier {
                data: req!(s, 0, Tile),
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
        OpKind::Reciprocal => 13,
        OpKind::TensorTensorScan => 14,
        OpKind::Exponential => 15,
        OpKind::CoreBarrier => 16,
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

/// Most keys an opcode takes (the size of the per-line slot array).
pub(super) const MAX_KEYS: usize = 9;

/// An operand kind: how a key's value is read.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Tile,
    Scalar,
    F32,
    I64,
    Bool,
    Queue,
    /// One of the opcode's [`OpKind::engines`].
    Engine,
    Func,
    Alu,
    Red,
    Cmp,
    /// `R,C`: two unsigned numbers (a PE tile's position or size).
    Pair,
    /// An MX element format (`mxfp8_e4m3`, `mxfp8_e5m2`, `mxfp4_e2m1`).
    Mx,
}

/// A parsed value, before it is placed in its [`crate::isa::Op`].
pub(super) enum Value {
    Tile(Tile),
    Scalar(Scalar),
    F32(f32),
    I64(i64),
    Bool(bool),
    Queue(DmaQueue),
    Engine(Engine),
    Func(ActFunc),
    Alu(AluOp),
    Red(ReduceOp),
    Cmp(CmpOp),
    Pair((u16, u16)),
    Mx(crate::numerics::mx::MxFormat),
}

/// The values given on one instruction line, indexed like [`Spec::keys`].
pub(super) struct Slots<'s> {
    pub(super) spec: &'s Spec,
    /// Where the opcode is (missing keys are reported there).
    pub(super) op_pos: usize,
    pub(super) vals: [Option<Value>; MAX_KEYS],
    /// Where each given key is.
    pub(super) pos: [usize; MAX_KEYS],
}

impl Slots<'_> {
    /// The error for key `i` absent (`missing`) or of the wrong kind (a bug in [`SPECS`]).
    pub(super) fn bad(&self, i: usize, missing: bool) -> Fail {
        let key = self.spec.keys.get(i).map_or("?", |k| k.0);
        if missing {
            let msg = format!("missing required key '{key}' for {}", self.spec.kind.name());
            fail(self.op_pos, msg)
        } else {
            fail(
                self.op_pos,
                format!("internal error: key '{key}' read as the wrong kind"),
            )
        }
    }

    /// The engine in slot `i`, or the opcode's default (the first of [`OpKind::engines`]).
    pub(super) fn engine(&mut self, i: usize) -> LResult<Engine> {
        match self.vals[i].take() {
            Some(Value::Engine(e)) => Ok(e),
            None => Ok(self.spec.kind.engines()[0]),
            Some(_) => Err(self.bad(i, false)),
        }
    }

    /// Both of two paired keys, or neither.
    pub(super) fn pair<A, B>(
        &self,
        a: Option<A>,
        i: usize,
        b: Option<B>,
        j: usize,
    ) -> LResult<Option<(A, B)>> {
        let (given, other) = match (a, b) {
            (Some(a), Some(b)) => return Ok(Some((a, b))),
            (None, None) => return Ok(None),
            (Some(_), None) => (i, j),
            (None, Some(_)) => (j, i),
        };
        let name = |k: usize| self.spec.keys.get(k).map_or("?", |k| k.0);
        let msg = format!(
            "key '{}' needs '{}' too: give both or neither",
            name(given),
            name(other)
        );
        Err(fail(self.pos[given], msg))
    }
}
