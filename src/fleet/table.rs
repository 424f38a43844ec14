//! Dense tables indexed by (tenant, generation): one row per tenant (or, in the quota tree,
//! per node, tenants first), one column per generation, stored row after row so a tenant's
//! generations are adjacent. Replaces hand-written `t * gens + g` indexing.

use std::ops::{Index, IndexMut};

use super::hardware::GenId;
use super::tenant::TenantId;

/// A value per (tenant, generation).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PerTenantGen<T> {
    gens: usize,
    cells: Vec<T>,
}

impl<T: Clone> PerTenantGen<T> {
    /// `rows` x `gens` copies of `value`.
    pub(crate) fn new(rows: usize, gens: usize, value: T) -> Self {
        PerTenantGen {
            gens,
            cells: vec![value; rows * gens],
        }
    }
}

impl<T> PerTenantGen<T> {
    /// A tenant's row: its value on each generation.
    #[inline]
    pub(crate) fn row(&self, t: TenantId) -> &[T] {
        &self.cells[t * self.gens..(t + 1) * self.gens]
    }

    /// Every ((tenant, generation), value), row after row.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ((TenantId, GenId), &T)> {
        let gens = self.gens.max(1);
        self.cells
            .iter()
            .enumerate()
            .map(move |(i, v)| ((i / gens, i % gens), v))
    }
}

impl<T> Index<(TenantId, GenId)> for PerTenantGen<T> {
    type Output = T;

    #[inline]
    fn index(&self, (t, g): (TenantId, GenId)) -> &T {
        &self.cells[t * self.gens + g]
    }
}

impl<T> IndexMut<(TenantId, GenId)> for PerTenantGen<T> {
    #[inline]
    fn index_mut(&mut self, (t, g): (TenantId, GenId)) -> &mut T {
        &mut self.cells[t * self.gens + g]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_a_tenants_generations() {
        let mut x = PerTenantGen::new(2, 3, 0u64);
        x[(1, 2)] = 5;
        x[(1, 0)] = 1;
        x[(0, 1)] = 7;
        assert_eq!(x.row(1), &[1, 0, 5]);
        assert_eq!(
            x.iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            vec![(0, 1), (1, 0), (1, 2)]
        );
    }
}
