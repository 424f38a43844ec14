//! Printer of the trace text format: the canonical form, which [`super::parse::parse`] reads back
//! to the same program.
//!
//! Canonical means: buffers first, then instructions; every key of every opcode in the order of
//! `traces/README.md`, defaults included, optional pairs only when present; floats in Rust's
//! shortest round-tripping `Display` form, so printing is lossless and bit-exact (NaN prints as
//! `NaN`, without payload or sign).

use std::fmt::{self, Display, Formatter};

use super::parse::{ACT_FUNCS, ALU_OPS, CMP_OPS, REDUCE_OPS, name_of};
use super::{
    AccessPattern, Activation, Buffer, Init, Op, Program, Scalar, TensorScalar, TensorTensorScan,
    Tile,
};

/// Print a program as trace text.
pub fn print(program: &Program) -> String {
    Printer(program).to_string()
}

/// The whole program.
struct Printer<'a>(&'a Program);

impl Display for Printer<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let p = self.0;
        // The oldest version that holds the program, so format-1 programs stay readable by
        // format-1 readers; format 2 writes its new keys with their defaults too.
        let v2 = p.version() >= 2;
        writeln!(f, "trnsim-trace {}", p.version())?;
        writeln!(f, "kernel {}", p.name)?;
        for b in &p.buffers {
            buffer(f, b)?;
        }
        for i in &p.instrs {
            op(f, p, &i.op, v2)?;
            writeln!(f)?;
        }
        Ok(())
    }
}

/// `buffer NAME MEM DTYPE [D0, ...] INIT`.
fn buffer(f: &mut Formatter<'_>, b: &Buffer) -> fmt::Result {
    write!(
        f,
        "buffer {} {} {} [",
        b.name,
        b.memory.name(),
        b.dtype.name()
    )?;
    for (i, d) in b.shape.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        write!(f, "{sep}{d}")?;
    }
    match &b.init {
        Init::Zeros => write!(f, "] zeros"),
        Init::Input => write!(f, "] input"),
        Init::Normal { mean, std, seed } => {
            write!(f, "] normal(mean={mean}, std={std}, seed={seed})")
        }
        Init::Uniform { low, high, seed } => {
            write!(f, "] uniform(low={low}, high={high}, seed={seed})")
        }
    }?;
    if b.core != 0 {
        write!(f, " core={}", b.core)?;
    }
    writeln!(f)
}

/// A tile in trace syntax (`name[0:128, 0:512]`), as reports and timelines show operands.
pub(crate) fn tile(program: &Program, t: &Tile) -> String {
    T(program, t).to_string()
}

/// A tile operand (needs the program for the buffer's name).
struct T<'a>(&'a Program, &'a Tile);

impl Display for T<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.1;
        let name = self
            .0
            .buffers
            .get(t.buffer.0 as usize)
            .map_or("?", |b| b.name.as_str());
        let end = t.partition_start.saturating_add(t.partition_count);
        write!(f, "{name}[{}:{end}", t.partition_start)?;
        if let Some(step) = t.partition_step.get() {
            write!(f, ":{step}")?;
        }
        write!(f, ", ")?;
        free(f, &t.ap)?;
        write!(f, "]")
    }
}

/// `A:B` for a contiguous run, else `@OFF[S,N]...`.
fn free(f: &mut Formatter<'_>, ap: &AccessPattern) -> fmt::Result {
    // `A:B` only when B fits a tile coordinate; the `@` form says the same otherwise.
    if let [(1, n)] = ap.dims[..]
        && let Some(end) = ap.offset.checked_add(n)
    {
        return write!(f, "{}:{end}", ap.offset);
    }
    write!(f, "@{}", ap.offset)?;
    for (s, n) in &ap.dims {
        write!(f, "[{s},{n}]")?;
    }
    Ok(())
}

/// A scalar operand: float immediate or per-partition tile.
struct S<'a>(&'a Program, &'a Scalar);

impl Display for S<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.1 {
            Scalar::Imm(v) => write!(f, "{v}"),
            Scalar::PerPartition(t) => T(self.0, t).fmt(f),
        }
    }
}

/// One instruction line (without the newline); `v2`: the file is format 2, whose keys it writes.
fn op(f: &mut Formatter<'_>, p: &Program, op: &Op, v2: bool) -> fmt::Result {
    let t = |tile| T(p, tile);
    f.write_str(op.opcode())?;
    match op {
        Op::DmaCopy { dst, src, queue } => write!(
            f,
            " dst={} src={} queue={}.{}",
            t(dst),
            t(src),
            queue.engine,
            queue.queue
        ),
        Op::Matmul {
            dst,
            stationary,
            moving,
            accumulate,
        } => write!(
            f,
            " dst={} stationary={} moving={} accumulate={accumulate}",
            t(dst),
            t(stationary),
            t(moving)
        ),
        Op::MatmulTile(m) => {
            let pt = &m.tile;
            write!(
                f,
                " dst={} stationary={} moving={} accumulate={} tile_position={},{} tile_size={},{}",
                t(&m.dst),
                t(&m.stationary),
                t(&m.moving),
                m.accumulate,
                pt.row,
                pt.col,
                pt.rows,
                pt.cols
            )
        }
        Op::MatmulMx(m) => write!(
            f,
            " dst={} stationary={} moving={} accumulate={} stationary_scale={} moving_scale={} mx={}",
            t(&m.dst),
            t(&m.stationary),
            t(&m.moving),
            m.accumulate,
            t(&m.stationary_scale),
            t(&m.moving_scale),
            m.format.name()
        ),
        Op::TransposeBg { dst, src } => {
            write!(
                f,
                " engine=tensor dst={} src={} background=true",
                t(dst),
                t(src)
            )
        }
        Op::Transpose { engine, dst, src } => {
            if v2 {
                write!(f, " engine={}", engine.name())?;
            }
            write!(f, " dst={} src={}", t(dst), t(src))
        }
        Op::BnStats { dst, src } | Op::BnAggr { dst, src } | Op::Reciprocal { dst, src } => {
            write!(f, " dst={} src={}", t(dst), t(src))
        }
        Op::TensorTensorScan(s) => scan(f, p, s),
        Op::Exponential(e) => {
            write!(
                f,
                " dst={} src={} max_value={}",
                t(&e.dst),
                t(&e.src),
                S(p, &e.max_value)
            )?;
            match &e.reduce_dst {
                Some(r) => write!(f, " reduce_dst={}", t(r)),
                None => Ok(()),
            }
        }
        Op::Activation(a) => activation(f, p, a),
        Op::TensorTensor {
            engine,
            op,
            dst,
            a,
            b,
        } => write!(
            f,
            " engine={} op={} dst={} a={} b={}",
            engine.name(),
            name_of(&ALU_OPS, op),
            t(dst),
            t(a),
            t(b)
        ),
        Op::TensorScalar(ts) => tensor_scalar(f, p, ts, v2),
        Op::TensorReduce {
            engine,
            op,
            dst,
            src,
        } => write!(
            f,
            " engine={} op={} dst={} src={}",
            engine.name(),
            name_of(&REDUCE_OPS, op),
            t(dst),
            t(src)
        ),
        Op::TensorCopy { engine, dst, src } => {
            write!(f, " engine={} dst={} src={}", engine.name(), t(dst), t(src))
        }
        Op::CoreBarrier { data } => write!(f, " data={}", t(data)),
        Op::Memset { engine, dst, value } => {
            write!(f, " engine={} dst={} value={value}", engine.name(), t(dst))
        }
        Op::Iota {
            dst,
            base,
            channel_multiplier,
            step,
        } => write!(
            f,
            " dst={} base={base} channel_multiplier={channel_multiplier} step={step}",
            t(dst)
        ),
        Op::AffineSelect {
            dst,
            src,
            cmp,
            base,
            channel_multiplier,
            step,
            fill,
        } => write!(
            f,
            " dst={} src={} cmp={} base={base} channel_multiplier={channel_multiplier} \
             step={step} fill={fill}",
            t(dst),
            t(src),
            name_of(&CMP_OPS, cmp)
        ),
    }
}

/// The operands of an `activation` line.
fn activation(f: &mut Formatter<'_>, p: &Program, a: &Activation) -> fmt::Result {
    let t = |tile| T(p, tile);
    let s = |scalar| S(p, scalar);
    let Activation {
        func,
        dst,
        src,
        scale,
        bias,
        reduce,
    } = a;
    write!(
        f,
        " func={} dst={} src={} scale={} bias={}",
        name_of(&ACT_FUNCS, func),
        t(dst),
        t(src),
        s(scale),
        s(bias)
    )?;
    match reduce {
        Some((r, rd)) => write!(
            f,
            " reduce={} reduce_dst={}",
            name_of(&REDUCE_OPS, r),
            t(rd)
        ),
        None => Ok(()),
    }
}

/// The operands of a `tensor_tensor_scan` line.
fn scan(f: &mut Formatter<'_>, p: &Program, s: &TensorTensorScan) -> fmt::Result {
    write!(
        f,
        " engine={} dst={} a={} b={} initial={} op0={} op1={}",
        s.engine.name(),
        T(p, &s.dst),
        T(p, &s.a),
        T(p, &s.b),
        S(p, &s.initial),
        name_of(&ALU_OPS, &s.op0),
        name_of(&ALU_OPS, &s.op1)
    )
}

/// The operands of a `tensor_scalar` line (`reverse0`, `reverse1` in format 2 only).
fn tensor_scalar(f: &mut Formatter<'_>, p: &Program, ts: &TensorScalar, v2: bool) -> fmt::Result {
    let t = |tile| T(p, tile);
    let s = |scalar| S(p, scalar);
    let TensorScalar {
        engine,
        dst,
        src,
        op0,
        op1,
        reverse,
    } = ts;
    write!(
        f,
        " engine={} dst={} src={} op0={} scalar0={}",
        engine.name(),
        t(dst),
        t(src),
        name_of(&ALU_OPS, &op0.0),
        s(&op0.1)
    )?;
    if let Some((o, v)) = op1 {
        write!(f, " op1={} scalar1={}", name_of(&ALU_OPS, o), s(v))?;
    }
    if v2 {
        write!(f, " reverse0={} reverse1={}", reverse[0], reverse[1])?;
    }
    Ok(())
}
