//! Kueue's quota arithmetic on a cohort tree, per generation: nominal quota, borrowing and
//! lending limits, what a queue may still admit (`available`), and the dominant resource share
//! used by fair sharing.
//!
//! It follows Kueue's hierarchical resource nodes: a cohort's subtree quota is what its
//! children lend to it (`subtree - guaranteed`, where `guaranteed = subtree - lending_limit`),
//! its usage is what its children use beyond their guaranteed part, and a queue's available
//! quota is its unused guaranteed part plus what its ancestors can still lend, capped by its
//! borrowing limit. Scheduling.md section 1 (cases K1-K4) is this arithmetic.

use std::cmp::Ordering;

use super::table::PerTenantGen;

/// No limit.
pub(crate) const UNLIMITED: u64 = u64::MAX;
const NONE: u32 = u32::MAX;

/// The quota tree of a run: tenants are nodes `0..tenants`, cohorts follow.
#[derive(Clone, Debug)]
pub struct QuotaTree {
    gens: usize,
    tenants: usize,
    parent: Vec<u32>,
    /// Nodes in an order where children come before their parents.
    post_order: Vec<u32>,
    root: Vec<u32>,
    /// Distance to the furthest tenant below (0 for a tenant; Kueue's `getNodeHeight`).
    height: Vec<u32>,
    weight_milli: Vec<u64>,
    nominal: PerTenantGen<u64>,
    borrowing_limit: PerTenantGen<u64>,
    lending_limit: PerTenantGen<u64>,
    subtree: PerTenantGen<u64>,
    guaranteed: PerTenantGen<u64>,
    usage: PerTenantGen<u64>,
}

/// A dominant resource share as an exact fraction (`num / den`; `den == 0` is infinite).
#[derive(Clone, Copy, Debug)]
pub struct Share {
    num: u128,
    den: u128,
}

impl Share {
    /// No borrowing.
    pub(crate) const ZERO: Share = Share { num: 0, den: 1 };

    /// Kueue's integer form: borrowed * 1000 / lendable, divided by the weight (625 for 5 of 8
    /// borrowed at weight 1).
    pub fn kueue_value(&self) -> f64 {
        if self.den == 0 {
            f64::INFINITY
        } else {
            self.num as f64 * 1000.0 / self.den as f64
        }
    }
}

impl Share {
    /// Whether the share is infinite (a zero-weight node that borrows).
    pub(crate) fn is_infinite(&self) -> bool {
        self.den == 0
    }
}

impl PartialEq for Share {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Share {}
impl PartialOrd for Share {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Share {
    fn cmp(&self, o: &Self) -> Ordering {
        match (self.den == 0, o.den == 0) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => (self.num * o.den).cmp(&(o.num * self.den)),
        }
    }
}

/// Each node's root and depth (edges to its root), every node's walk stopping at the first
/// ancestor already known: O(n) however deep the tree. `parent` must be acyclic.
fn roots_and_depths(parent: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let n = parent.len();
    let mut root = vec![NONE; n];
    let mut depth = vec![0u32; n];
    let mut path = Vec::new();
    for start in 0..n {
        let mut i = start;
        while root[i] == NONE && parent[i] != NONE {
            path.push(i);
            i = parent[i] as usize;
        }
        if root[i] == NONE {
            root[i] = i as u32;
        }
        let (r, mut d) = (root[i], depth[i]);
        while let Some(j) = path.pop() {
            d += 1;
            root[j] = r;
            depth[j] = d;
        }
    }
    (root, depth)
}

impl QuotaTree {
    /// A tree of `parents.len()` nodes (the first `tenants` are tenants) over `gens` generations,
    /// every quota 0. `parents` must be acyclic (checked by the scenario loader).
    pub fn new(tenants: usize, parents: &[Option<usize>], weights: &[f64], gens: usize) -> Self {
        let n = parents.len();
        let parent: Vec<u32> = parents
            .iter()
            .map(|p| p.map_or(NONE, |p| p as u32))
            .collect();
        let (root, depth) = roots_and_depths(&parent);
        // Deepest first (a stable sort: file order among equals), each depth computed once,
        // so a deep chain of cohorts costs O(n log n), not O(n * depth) per comparison.
        let mut post_order: Vec<u32> = (0..n as u32).collect();
        post_order.sort_by_key(|&i| std::cmp::Reverse(depth[i as usize]));
        let mut height = vec![0u32; n];
        for &i in &post_order {
            let i = i as usize;
            if parent[i] != NONE {
                let up = if i < tenants { 1 } else { height[i] + 1 };
                let p = parent[i] as usize;
                height[p] = height[p].max(up);
            }
        }
        QuotaTree {
            gens,
            tenants,
            parent,
            post_order,
            root,
            height,
            weight_milli: weights
                .iter()
                .map(|w| (w * 1000.0).round().max(0.0) as u64)
                .collect(),
            nominal: PerTenantGen::new(n, gens, 0),
            borrowing_limit: PerTenantGen::new(n, gens, UNLIMITED),
            lending_limit: PerTenantGen::new(n, gens, UNLIMITED),
            subtree: PerTenantGen::new(n, gens, 0),
            guaranteed: PerTenantGen::new(n, gens, 0),
            usage: PerTenantGen::new(n, gens, 0),
        }
    }

    /// Parent of a node.
    pub(crate) fn parent(&self, node: usize) -> Option<usize> {
        (self.parent[node] != NONE).then(|| self.parent[node] as usize)
    }

    /// A node's height: the distance to the furthest tenant below it (0 for a tenant).
    pub(crate) fn height(&self, node: usize) -> u32 {
        self.height[node]
    }

    /// Root of a node's tree (itself when it has no cohort).
    pub(crate) fn root(&self, node: usize) -> usize {
        self.root[node] as usize
    }

    /// Set a tenant's quota on generation `g` (call [`QuotaTree::recompute`] after).
    pub fn set_quota(
        &mut self,
        tenant: usize,
        g: usize,
        nominal: u64,
        borrowing_limit: Option<u64>,
        lending_limit: Option<u64>,
    ) {
        let i = (tenant, g);
        self.nominal[i] = nominal;
        self.borrowing_limit[i] = borrowing_limit.unwrap_or(UNLIMITED);
        self.lending_limit[i] = lending_limit.unwrap_or(UNLIMITED);
    }

    /// Recompute subtree quotas, guaranteed parts and cohort usages from the tenants' quotas
    /// and usages.
    pub fn recompute(&mut self) {
        let n = self.parent.len();
        for node in self.tenants..n {
            for g in 0..self.gens {
                let i = (node, g);
                self.subtree[i] = self.nominal[i];
                self.usage[i] = 0;
            }
        }
        for k in 0..n {
            let node = self.post_order[k] as usize;
            for g in 0..self.gens {
                let i = (node, g);
                if node < self.tenants {
                    self.subtree[i] = self.nominal[i];
                }
                let ll = self.lending_limit[i];
                self.guaranteed[i] = if ll == UNLIMITED {
                    0
                } else {
                    self.subtree[i].saturating_sub(ll)
                };
                if let Some(p) = self.parent(node) {
                    let pi = (p, g);
                    self.subtree[pi] += self.subtree[i] - self.guaranteed[i];
                    self.usage[pi] += self.usage[i].saturating_sub(self.guaranteed[i]);
                }
            }
        }
    }

    /// Chips a node uses on `g` (for a cohort: what its children use beyond their guaranteed
    /// quota).
    pub(crate) fn usage(&self, node: usize, g: usize) -> u64 {
        self.usage[(node, g)]
    }

    /// A node's quota on `g` (a tenant's nominal; a cohort's lendable subtree quota).
    pub(crate) fn quota(&self, node: usize, g: usize) -> u64 {
        self.subtree[(node, g)]
    }

    /// A node's guaranteed (never lent) quota on `g`.
    pub(crate) fn guaranteed(&self, node: usize, g: usize) -> u64 {
        self.guaranteed[(node, g)]
    }

    /// A tenant's borrowing limit on `g` (`None`: unlimited).
    pub(crate) fn borrowing_limit(&self, tenant: usize, g: usize) -> Option<u64> {
        let bl = self.borrowing_limit[(tenant, g)];
        (bl != UNLIMITED).then_some(bl)
    }

    /// Whether a tenant uses more than its nominal quota on `g`.
    pub(crate) fn is_borrowing(&self, tenant: usize, g: usize) -> bool {
        let i = (tenant, g);
        self.usage[i] > self.subtree[i]
    }

    /// Chips a tenant uses beyond its nominal on `g`.
    pub(crate) fn borrowed(&self, tenant: usize, g: usize) -> u64 {
        let i = (tenant, g);
        self.usage[i].saturating_sub(self.subtree[i])
    }

    /// Add `delta` chips to a tenant's usage on `g`, updating its cohorts.
    pub fn add_usage(&mut self, tenant: usize, g: usize, delta: i64) {
        let mut node = tenant;
        let mut d = delta;
        loop {
            let i = (node, g);
            let old = self.usage[i];
            let new = (old as i64 + d) as u64;
            self.usage[i] = new;
            let gt = self.guaranteed[i];
            let up = new.saturating_sub(gt) as i64 - old.saturating_sub(gt) as i64;
            match self.parent(node) {
                Some(p) if up != 0 => {
                    node = p;
                    d = up;
                }
                _ => break,
            }
        }
    }

    /// Chips a tenant may still admit on `g` (Kueue's `available`; may be negative when quotas
    /// shrank under running work).
    pub fn available(&self, node: usize, g: usize) -> i64 {
        let i = (node, g);
        let (sub, gt, use_) = (
            self.subtree[i] as i64,
            self.guaranteed[i] as i64,
            self.usage[i] as i64,
        );
        let Some(p) = self.parent(node) else {
            return sub - use_;
        };
        let local = (gt - use_).max(0);
        let mut parent = self.available(p, g);
        let bl = self.borrowing_limit[i];
        if bl != UNLIMITED {
            let stored = sub - gt;
            let used_in_parent = (use_ - gt).max(0);
            parent = parent.min(stored - used_in_parent + bl as i64);
        }
        local + parent
    }

    /// Whether `chips` more fit a tenant's quota on `g`, and whether they stay within nominal.
    pub(crate) fn fits(&self, tenant: usize, g: usize, chips: u64) -> (bool, bool) {
        let fits = self.available(tenant, g) >= chips as i64;
        let nominal = self.usage(tenant, g) + chips <= self.quota(tenant, g);
        (fits, fits && nominal)
    }

    /// How much a node's usage on `g` changes if tenant `leaf` (in its subtree) uses `delta`
    /// chips more (or fewer).
    pub(crate) fn usage_change(&self, leaf: usize, g: usize, delta: i64, node: usize) -> i64 {
        let mut cur = leaf;
        let mut d = delta;
        while cur != node {
            let i = (cur, g);
            let (u, gt) = (self.usage[i] as i64, self.guaranteed[i] as i64);
            d = (u + d - gt).max(0) - (u - gt).max(0);
            match self.parent(cur) {
                Some(p) if d != 0 => cur = p,
                _ => return if cur == node { d } else { 0 },
            }
        }
        d
    }

    /// Number of nodes (tenants, then cohorts).
    pub(crate) fn nodes(&self) -> usize {
        self.parent.len()
    }

    /// Whether `node` is `anc` or below it.
    pub(crate) fn is_under(&self, node: usize, anc: usize) -> bool {
        let mut cur = Some(node);
        while let Some(n) = cur {
            if n == anc {
                return true;
            }
            cur = self.parent(n);
        }
        false
    }

    /// The most a node could ever use on `g` with no usage anywhere (Kueue's
    /// `potentialAvailable`): its guaranteed part plus what its parent could, capped by its
    /// borrowing limit.
    pub(crate) fn potential_available(&self, node: usize, g: usize) -> u64 {
        let i = (node, g);
        let Some(p) = self.parent(node) else {
            return self.subtree[i];
        };
        let avail = self.guaranteed[i].saturating_add(self.potential_available(p, g));
        match self.borrowing_limit[i] {
            UNLIMITED => avail,
            bl => avail.min(self.subtree[i].saturating_add(bl)),
        }
    }

    /// Kueue's dominant resource share of a node with `delta(g)` more (or less) usage on each
    /// generation, and whether it borrows at all: chips borrowed beyond its subtree quota,
    /// summed over generations (flavors of one resource), over what its parent could lend
    /// (`potentialAvailable`, summed likewise), divided by its weight. A node without a parent
    /// has none.
    pub(crate) fn drs_with(&self, node: usize, delta: impl Fn(usize) -> i64) -> (bool, Share) {
        let Some(p) = self.parent(node) else {
            return (false, Share::ZERO);
        };
        let (mut borrowed, mut lendable) = (0u128, 0u128);
        let mut borrowing = false;
        for g in 0..self.gens {
            let i = (node, g);
            let used = (self.usage[i] as i64 + delta(g)).max(0) as u64;
            let b = used.saturating_sub(self.subtree[i]);
            if b > 0 {
                borrowing = true;
                borrowed += b as u128;
            }
            lendable += self.potential_available(p, g) as u128;
        }
        if borrowed == 0 || lendable == 0 {
            return (borrowing, Share::ZERO);
        }
        let w = self.weight_milli[node] as u128;
        let share = Share {
            num: borrowed * 1000,
            den: lendable * w,
        };
        (borrowing, share)
    }

    /// Dominant resource share of a node with `delta(g)` more (or less) usage.
    pub(crate) fn share_with(&self, node: usize, delta: impl Fn(usize) -> i64) -> Share {
        self.drs_with(node, delta).1
    }

    /// Dominant resource share of a node now.
    pub fn share(&self, node: usize) -> Share {
        self.share_with(node, |_| 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cohort(quotas: &[(u64, Option<u64>, Option<u64>)]) -> QuotaTree {
        let n = quotas.len();
        let mut parents = vec![Some(n); n];
        parents.push(None);
        let mut t = QuotaTree::new(n, &parents, &vec![1.0; n + 1], 1);
        for (i, &(nom, bl, ll)) in quotas.iter().enumerate() {
            t.set_quota(i, 0, nom, bl, ll);
        }
        t.recompute();
        t
    }

    #[test]
    fn k1_to_k3_reach() {
        let t = cohort(&[(9, None, None), (12, None, None)]);
        assert_eq!((t.available(0, 0), t.available(1, 0)), (21, 21));
        let t = cohort(&[(9, Some(1), None), (12, None, None)]);
        assert_eq!((t.available(0, 0), t.available(1, 0)), (10, 21));
        let mut t = cohort(&[(9, None, None), (12, None, Some(1))]);
        assert_eq!((t.available(0, 0), t.available(1, 0)), (10, 21));
        t.add_usage(1, 0, 11);
        assert_eq!(t.available(0, 0), 10);
        t.add_usage(1, 0, 1);
        assert_eq!(t.available(0, 0), 9);
    }
}
