//! An instruction line: `OPCODE KEY=VALUE ...`, each key read as its opcode's entry in
//! [`super::specs`] says, into a slot; the entry then builds the [`Op`] from the slots.

use super::cursor::Cur;
use super::names::{ACT_FUNCS, ALU_OPS, BOOLS, CMP_OPS, REDUCE_OPS};
use super::specs::{SPECS, Spec};
use super::{Fail, LResult, Parser, fail};
use crate::isa::{ActFunc, AluOp, CmpOp, DmaQueue, Engine, Instr, OpKind, ReduceOp, Scalar, Tile};

/// Most keys an opcode takes (the size of the per-line slot array).
pub(super) const MAX_KEYS: usize = 8;

impl<'t> Parser<'t> {
    /// `OPCODE KEY=VALUE ...` (after the opcode, which starts at `at`).
    pub(super) fn instr(&mut self, c: &mut Cur<'t>, opcode: &str, at: usize) -> LResult<()> {
        let Some(spec) = SPECS.iter().find(|s| s.kind.name() == opcode) else {
            let names: Vec<&str> = SPECS.iter().map(|s| s.kind.name()).collect();
            let msg = format!(
                "unknown opcode {}; expected one of: {}",
                c.shown(at, opcode),
                names.join(", ")
            );
            return Err(fail(at, msg));
        };
        let mut slots = Slots {
            spec,
            op_pos: at,
            vals: [const { None }; MAX_KEYS],
            pos: [0; MAX_KEYS],
        };
        loop {
            c.skip_ws();
            if c.at_end() {
                break;
            }
            self.key_value(c, &mut slots)?;
        }
        let op = (spec.build)(&mut slots)?;
        self.program.instrs.push(Instr {
            op,
            line: self.line,
        });
        Ok(())
    }

    /// One `KEY=VALUE` into its slot.
    fn key_value(&self, c: &mut Cur<'t>, slots: &mut Slots) -> LResult<()> {
        let spec = slots.spec;
        let key_at = c.pos;
        let key = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'_');
        if key.is_empty() {
            let msg = format!("expected KEY=VALUE, found {}", c.describe(key_at));
            return Err(fail(key_at, msg));
        }
        let Some(idx) = spec.keys.iter().position(|k| k.0 == key) else {
            let keys: Vec<&str> = spec.keys.iter().map(|k| k.0).collect();
            let msg = format!(
                "unknown key '{key}' for {}; expected one of: {}",
                spec.kind.name(),
                keys.join(", ")
            );
            return Err(fail(key_at, msg));
        };
        if slots.vals[idx].is_some() {
            let msg = format!("duplicate key '{key}' for {}", spec.kind.name());
            return Err(fail(key_at, msg));
        }
        if !c.eat(b'=') {
            let msg = format!(
                "expected '=' after key '{key}', found {}",
                c.describe(c.pos)
            );
            return Err(fail(c.pos, msg));
        }
        let value = self.value(c, spec.keys[idx].1, spec.kind, key)?;
        slots.vals[idx] = Some(value);
        slots.pos[idx] = key_at;
        if !c.at_ws_or_end() {
            let msg = format!(
                "expected whitespace or end of line after the value of '{key}', found {}",
                c.describe(c.pos)
            );
            return Err(fail(c.pos, msg));
        }
        Ok(())
    }

    /// A value of the given kind.
    pub(super) fn value(
        &self,
        c: &mut Cur<'t>,
        kind: Kind,
        op: OpKind,
        key: &str,
    ) -> LResult<Value> {
        Ok(match kind {
            Kind::Tile => Value::Tile(self.tile(c)?),
            Kind::Scalar => Value::Scalar(self.scalar(c, key)?),
            Kind::F32 => Value::F32(c.float(format_args!("a float for '{key}'"))?),
            Kind::I64 => Value::I64(c.int_token(key)?),
            Kind::Bool => Value::Bool(c.choice(&BOOLS, "boolean")?),
            Kind::Queue => Value::Queue(c.queue()?),
            Kind::Engine => Value::Engine(c.engine(op.engines(), op.name())?),
            Kind::Func => Value::Func(c.choice(&ACT_FUNCS, "activation function")?),
            Kind::Alu => Value::Alu(c.choice(&ALU_OPS, "ALU operation")?),
            Kind::Red => Value::Red(c.choice(&REDUCE_OPS, "reduction")?),
            Kind::Cmp => Value::Cmp(c.choice(&CMP_OPS, "comparison")?),
        })
    }
}

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
