//! Tile syntax: `NAME[PS:PE, A:B]`, `NAME[PS:PE:STEP, @OFF[S,N]...]` (a partition range, then a
//! contiguous free range or an access pattern), and scalars that are an immediate or a `[P, 1]`
//! tile.

use super::cursor::Cur;
use super::{LResult, Parser, fail};
use crate::isa::{AccessPattern, BufferId, MAX_AP_DIMS, Memory, PartitionStep, Scalar, Tile};

impl<'t> Parser<'t> {
    /// A float immediate, or a tile (per-partition scalar) when the token is `NAME[`.
    pub(super) fn scalar(&self, c: &mut Cur<'t>, key: &str) -> LResult<Scalar> {
        let start = c.pos;
        let is_tile = !c.name().is_empty() && c.peek() == Some(b'[');
        c.pos = start;
        if is_tile {
            Ok(Scalar::PerPartition(self.tile(c)?))
        } else {
            let what = format_args!("a float or a [P, 1] tile for '{key}'");
            Ok(Scalar::Imm(c.float(what)?))
        }
    }

    /// `NAME[PS:PE, FREE]` or `NAME[PS:PE:STEP, FREE]`.
    pub(super) fn tile(&self, c: &mut Cur<'t>) -> LResult<Tile> {
        let start = c.pos;
        let name = c.name();
        if name.is_empty() || c.peek() != Some(b'[') {
            let msg = format!(
                "expected a tile NAME[START:END, FREE], found {}",
                c.describe(start)
            );
            return Err(fail(start, msg));
        }
        let Some(&id) = self.names.get(name) else {
            return Err(fail(start, self.unknown_buffer(name)));
        };
        c.check_closed(c.pos, "of the tile")?;
        c.pos += 1;
        let (partition_start, partition_count, partition_step) = self.partitions(c, id, name)?;
        c.skip_ws();
        c.expect(
            b',',
            "between the partition range and the free access pattern",
        )?;
        c.skip_ws();
        let ap = if c.eat(b'@') {
            c.access_pattern()?
        } else {
            c.free_range()?
        };
        c.skip_ws();
        c.expect(b']', "to close the tile")?;
        Ok(Tile {
            buffer: BufferId(id),
            partition_start,
            partition_count,
            partition_step,
            ap,
        })
    }

    /// `PS:PE` or `PS:PE:STEP` (STEP on hbm buffers only).
    pub(super) fn partitions(
        &self,
        c: &mut Cur<'t>,
        id: u32,
        name: &str,
    ) -> LResult<(u32, u32, PartitionStep)> {
        c.skip_ws();
        let at = c.pos;
        let ps = c.coord("the first partition")?;
        c.skip_ws();
        c.expect(b':', "after the first partition")?;
        c.skip_ws();
        let pe = c.coord("the partition end")?;
        if pe <= ps {
            let msg =
                format!("empty partition range {ps}:{pe}; the end must be greater than the start");
            return Err(fail(at, msg));
        }
        c.skip_ws();
        if !c.eat(b':') {
            return Ok((ps, pe - ps, PartitionStep::ROW));
        }
        c.skip_ws();
        let step_at = c.pos;
        let step = c.coord("the partition step")?;
        let Some(step) = PartitionStep::new(step) else {
            let msg = format!(
                "the partition step {step} is too large: at most {}",
                PartitionStep::MAX
            );
            return Err(fail(step_at, msg));
        };
        let memory = self
            .program
            .buffers
            .get(id as usize)
            .map_or(Memory::Hbm, |b| b.memory);
        if memory != Memory::Hbm {
            let msg = format!(
                "a partition step is only allowed on hbm buffers; '{name}' is in {}",
                memory.name()
            );
            return Err(fail(step_at, msg));
        }
        Ok((ps, pe - ps, step))
    }
}

impl Cur<'_> {
    /// `A:B`, a contiguous run of elements A..B.
    fn free_range(&mut self) -> LResult<AccessPattern> {
        let at = self.pos;
        let a = self.coord("the first free element (or '@' for an access pattern)")?;
        self.skip_ws();
        self.expect(b':', "after the first free element")?;
        self.skip_ws();
        let b = self.coord("the free end")?;
        if b <= a {
            let msg = format!("empty free range {a}:{b}; the end must be greater than the start");
            return Err(fail(at, msg));
        }
        Ok(AccessPattern::contiguous(a, b - a))
    }

    /// `OFF[S,N][S,N]...` after the `@`: 1 to 4 `[stride,size]` groups, outermost first.
    fn access_pattern(&mut self) -> LResult<AccessPattern> {
        self.skip_ws();
        let offset = self.coord("the access-pattern offset")?;
        let mut dims = crate::isa::Dims::new();
        loop {
            self.skip_ws();
            let at = self.pos;
            if !self.eat(b'[') {
                break;
            }
            if dims.len() == MAX_AP_DIMS {
                let msg = format!(
                    "too many access-pattern dimensions: at most {MAX_AP_DIMS} [stride,size] groups"
                );
                return Err(fail(at, msg));
            }
            self.skip_ws();
            let stride = self.coord("the stride")?;
            self.skip_ws();
            self.expect(b',', "between stride and size")?;
            self.skip_ws();
            let size_at = self.pos;
            let size = self.coord("the size")?;
            if size == 0 {
                return Err(fail(size_at, "access-pattern size must be at least 1"));
            }
            self.skip_ws();
            self.expect(b']', "to close the [stride,size] group")?;
            dims.push((stride, size));
        }
        if dims.is_empty() {
            let msg = format!(
                "expected a [stride,size] group after '@{offset}', found {}",
                self.describe(self.pos)
            );
            return Err(fail(self.pos, msg));
        }
        Ok(AccessPattern { offset, dims })
    }
}
