//! What a demand stream is resolved against: the names, tenants, workloads and fleet resolved
//! before the streams, and how to read a trace file the stream names. The stream's parts
//! (`streams`, `rate`, `work`) all take it, so it sits apart from each of them.

use std::path::Path;

use super::WorkloadDef;
use super::names::Names;
use crate::fleet::hardware::FleetPlan;
use crate::fleet::tenant::TenantPlan;

/// What a demand stream is resolved against.
pub(super) struct StreamContext<'a> {
    pub(super) names: &'a Names<'a>,
    pub(super) tenants: &'a [TenantPlan],
    pub(super) workloads: &'a [WorkloadDef],
    pub(super) fleet: &'a FleetPlan,
    pub(super) quota_step_s: u64,
    pub(super) horizon_s: u64,
    pub(super) base_dir: &'a Path,
    pub(super) read: &'a dyn Fn(&Path) -> std::io::Result<String>,
}
