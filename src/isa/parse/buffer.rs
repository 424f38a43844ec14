//! Buffer declarations: `buffer NAME MEM DTYPE [D0, ...] INIT`, with the shape checked as it is
//! read and the initialiser (`zeros`, `input`, `normal(...)`, `uniform(...)`) with its arguments.

use super::cursor::Cur;
use super::names::MEMORIES;
use super::{LResult, Parser, fail};
use crate::isa::{Buffer, Init, Memory};

/// Largest element count a buffer may declare: far beyond any real kernel, and small enough that
/// sizes computed from it later cannot overflow.
const MAX_ELEMS: u64 = 1 << 36;

/// Most dimensions a buffer shape may have.
const MAX_SHAPE_DIMS: usize = 8;

/// Partitions of SBUF and PSUM.
const MAX_PARTITIONS: u64 = 128;

impl<'t> Parser<'t> {
    /// `buffer NAME MEM DTYPE [D0, ...] INIT` (after the `buffer` keyword).
    pub(super) fn buffer(&mut self, c: &mut Cur<'t>) -> LResult<()> {
        c.skip_ws();
        let name_at = c.pos;
        let name = c.name_token("buffer name")?;
        if let Some(&id) = self.names.get(name) {
            let first = self.program.buffers.get(id as usize).map_or(0, |b| b.line);
            let msg = format!("duplicate buffer name '{name}' (first declared on line {first})");
            return Err(fail(name_at, msg));
        }
        c.skip_ws();
        let memory = c.choice(&MEMORIES, "memory")?;
        c.skip_ws();
        let dtype = c.dtype()?;
        c.skip_ws();
        let shape = c.shape(memory)?;
        c.skip_ws();
        let init = c.init()?;
        c.skip_ws();
        let core = self.buffer_core(c, memory)?;
        c.expect_end("the buffer declaration")?;
        let id = u32::try_from(self.program.buffers.len())
            .map_err(|_| fail(name_at, "too many buffers".to_string()))?;
        self.names.insert(name, id);
        self.program.buffers.push(Buffer {
            name: name.to_string(),
            memory,
            dtype,
            shape,
            init,
            line: self.line,
            core,
        });
        Ok(())
    }

    /// The optional `core=N` of an SBUF or PSUM buffer (format 3): the physical core that holds it.
    fn buffer_core(&self, c: &mut Cur<'t>, memory: Memory) -> LResult<u8> {
        let at = c.pos;
        if !c.s[c.pos..].starts_with("core=") {
            return Ok(0);
        }
        self.needs(3, at, "a buffer's 'core='")?;
        if memory == Memory::Hbm {
            let msg = "an HBM buffer is shared by the cores: 'core=' is for sbuf and psum buffers";
            return Err(fail(at, msg.to_string()));
        }
        c.pos += "core=".len();
        c.uint_token::<u8>("a core index")
    }
}

impl Cur<'_> {
    /// `[D0, D1, ...]`: 1 to 8 positive dimensions, at most 2^36 elements, and at most 128
    /// partitions on chip. Checked as read, so an absurd shape allocates nothing.
    fn shape(&mut self, memory: Memory) -> LResult<Vec<usize>> {
        let open = self.pos;
        if !self.eat(b'[') {
            let msg = format!(
                "expected a shape such as [128, 512], found {}",
                self.describe(open)
            );
            return Err(fail(open, msg));
        }
        self.check_closed(open, "of the shape")?;
        let mut dims = Vec::with_capacity(4);
        let mut elems: u64 = 1;
        loop {
            self.skip_ws();
            let at = self.pos;
            if dims.len() == MAX_SHAPE_DIMS {
                let msg = format!("too many dimensions: a shape has at most {MAX_SHAPE_DIMS}");
                return Err(fail(at, msg));
            }
            let d = self.uint("a dimension")?;
            if d == 0 {
                return Err(fail(
                    at,
                    "zero-sized dimension: every dimension must be at least 1",
                ));
            }
            elems = elems.saturating_mul(d);
            if elems > MAX_ELEMS {
                let msg = "shape has more than 2^36 elements; that is not a real buffer";
                return Err(fail(open, msg));
            }
            if dims.is_empty() && memory != Memory::Hbm && d > MAX_PARTITIONS {
                let msg = format!(
                    "{} buffer has {d} partitions; at most {MAX_PARTITIONS}",
                    memory.name()
                );
                return Err(fail(at, msg));
            }
            // At most 2^36, so it fits a 64-bit usize; a 32-bit target reports it.
            dims.push(usize::try_from(d).map_err(|_| fail(at, "dimension too large"))?);
            self.skip_ws();
            if self.eat(b']') {
                return Ok(dims);
            }
            self.expect(b',', "between dimensions")?;
        }
    }

    /// `zeros | input | normal(...) | uniform(...)`.
    pub(super) fn init(&mut self) -> LResult<Init> {
        let at = self.pos;
        let word = self.name();
        match word {
            "zeros" => Ok(Init::Zeros),
            "input" => Ok(Init::Input),
            "normal" => {
                let ([mean, std], seed) = self.init_args("normal", ["mean", "std", "seed"])?;
                Ok(Init::Normal {
                    mean: mean.unwrap_or(0.0),
                    std: std.unwrap_or(1.0),
                    seed,
                })
            }
            "uniform" => {
                let ([low, high], seed) = self.init_args("uniform", ["low", "high", "seed"])?;
                Ok(Init::Uniform {
                    low: low.unwrap_or(-1.0),
                    high: high.unwrap_or(1.0),
                    seed,
                })
            }
            _ => {
                let found = if word.is_empty() {
                    format!("expected an init, found {}", self.describe(at))
                } else {
                    format!("unknown init '{word}'")
                };
                let msg = format!(
                    "{found}; expected one of: zeros, input, normal(mean=F, std=F, seed=U), \
                     uniform(low=F, high=F, seed=U)"
                );
                Err(fail(at, msg))
            }
        }
    }

    /// The optional `(k=v, ...)` of `normal`/`uniform`: two floats and a seed (default 0), in any
    /// order. Whitespace is allowed anywhere inside the parentheses.
    fn init_args(&mut self, func: &str, keys: [&str; 3]) -> LResult<InitArgs> {
        let mut floats = [None, None];
        let mut seed = None;
        let open = self.pos;
        if !self.eat(b'(') {
            return Ok((floats, 0));
        }
        self.check_closed(open, &format!("of {func}(...)"))?;
        self.skip_ws();
        if self.eat(b')') {
            return Ok((floats, 0));
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            let key = self.name();
            let Some(i) = keys.iter().position(|k| *k == key) else {
                let msg = format!(
                    "unknown key {} for {func}; expected one of: {}",
                    self.shown(at, key),
                    keys.join(", ")
                );
                return Err(fail(at, msg));
            };
            let given = if i == 2 {
                seed.is_some()
            } else {
                floats[i].is_some()
            };
            if given {
                return Err(fail(at, format!("duplicate key '{key}' for {func}")));
            }
            self.skip_ws();
            if !self.eat(b'=') {
                let msg = format!(
                    "expected '=' after key '{key}', found {}",
                    self.describe(self.pos)
                );
                return Err(fail(self.pos, msg));
            }
            self.skip_ws();
            if i == 2 {
                seed = Some(self.uint_token("the seed")?);
            } else {
                floats[i] = Some(self.float64(format_args!("a float for '{key}'"))?);
            }
            self.skip_ws();
            if self.eat(b')') {
                return Ok((floats, seed.unwrap_or(0)));
            }
            self.expect(b',', &format!("between the arguments of {func}"))?;
        }
    }
}

/// The two float parameters and the seed of a random init.
type InitArgs = ([Option<f64>; 2], u64);
