//! What several benches share.

/// The synthetic fleet of `benches/fleet.rs` and `benches/workload.rs`: 4,096 Trn2 chips for
/// 400 days, four tenants in a cohort (40, 30 and 30 % of the chips, and spot); the benches add
/// the demand.
pub const SYNTHETIC_FLEET: &str = r#"
horizon = "400d"
report_interval = "1d"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 4096
[cohorts.all]
[tenants.a]
cohort = "all"
quota.trn2.nominal_share = 0.4
[tenants.b]
cohort = "all"
quota.trn2.nominal_share = 0.3
[tenants.c]
cohort = "all"
quota.trn2.nominal_share = 0.3
[tenants.spot]
cohort = "all"
spot = true
"#;
