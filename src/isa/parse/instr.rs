//! An instruction line: `OPCODE KEY=VALUE ...`, each key read as its opcode's entry in
//! [`super::specs`] says, into a slot; the entry then builds the [`Op`] from the slots.

use super::cursor::Cur;
use super::names::{ACT_FUNCS, ALU_OPS, BOOLS, CMP_OPS, REDUCE_OPS};
use super::specs::{Kind, MAX_KEYS, SPECS, Slots, Value};
use super::{LResult, Parser, fail};
use crate::isa::{Instr, OpKind};

/// Keys that format 2 added to opcodes of format 1 (a format-1 file may not give them).
const V2_KEYS: [(OpKind, &str); 9] = [
    (OpKind::TensorScalar, "reverse0"),
    (OpKind::TensorScalar, "reverse1"),
    (OpKind::Transpose, "engine"),
    (OpKind::Transpose, "background"),
    (OpKind::Matmul, "tile_position"),
    (OpKind::Matmul, "tile_size"),
    (OpKind::Matmul, "stationary_scale"),
    (OpKind::Matmul, "moving_scale"),
    (OpKind::Matmul, "mx"),
];

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
        self.needs(spec.kind.version(), at, format_args!("opcode '{opcode}'"))?;
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
        if V2_KEYS.contains(&(spec.kind, key)) {
            let what = format_args!("key '{key}' of {}", spec.kind.name());
            self.needs(2, key_at, what)?;
        }
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
        let at = c.pos;
        let value = match kind {
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
            Kind::Pair => Value::Pair(c.pair(key)?),
            Kind::Mx => Value::Mx(c.choice(&crate::numerics::mx::MxFormat::ALL, "MX format")?),
        };
        let (since, what) = match &value {
            Value::Func(f) => (f.version(), "activation function"),
            Value::Alu(o) => (o.version(), "ALU operation"),
            Value::Red(r) => (r.version(), "reduction"),
            _ => (1, ""),
        };
        let word = c.s.get(at..c.pos).unwrap_or("?");
        self.needs(since, at, format_args!("{what} '{word}'"))?;
        Ok(value)
    }
}
