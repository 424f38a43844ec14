//! Distributions a stream draws from (`{ dist = "lognormal", median = "2h", sigma = 1 }`):
//! only the parameters of the named distribution, each in range, weights normalised.

use super::checks::{Built, bad, check_range};
use super::file::{DistKind, FileDist, Num};
use crate::fleet::demand::Dist;

/// The distribution at `path`; `positive`: its mean must be above 0.
pub(super) fn dist(path: &str, f: &FileDist, positive: bool) -> Built<Dist> {
    let req = |v: Option<Num>, key: &str| -> Built<f64> {
        match v {
            Some(Num(x)) if (0.0..1e15).contains(&x) => Ok(x),
            Some(Num(x)) => bad(
                format!("{path}.{key}"),
                format!("{x} is out of range; expected 0 to 1e15"),
            ),
            None => bad(format!("{path}.{key}"), "missing for this distribution"),
        }
    };
    only_its_parameters(path, f)?;
    let d = match f.dist {
        DistKind::Fixed => Dist::Fixed {
            value: req(f.value, "value")?,
        },
        DistKind::Exponential => Dist::Exponential {
            mean: req(f.mean, "mean")?,
        },
        DistKind::Lognormal => {
            let sigma = f.sigma.unwrap_or(1.0);
            check_range(&format!("{path}.sigma"), sigma, 0.0, 10.0)?;
            Dist::Lognormal {
                median: req(f.median, "median")?,
                sigma,
            }
        }
        DistKind::Uniform => {
            let (min, max) = (req(f.min, "min")?, req(f.max, "max")?);
            if max < min {
                return bad(format!("{path}.max"), format!("{max} is below min {min}"));
            }
            Dist::Uniform { min, max }
        }
        DistKind::Empirical => empirical(path, f)?,
    };
    if positive && d.mean() <= 0.0 {
        return bad(path, "the mean must be positive");
    }
    Ok(d)
}

/// Only the parameters of `f`'s distribution are given.
fn only_its_parameters(path: &str, f: &FileDist) -> Built<()> {
    let allowed: &[&str] = match f.dist {
        DistKind::Fixed => &["value"],
        DistKind::Exponential => &["mean"],
        DistKind::Lognormal => &["median", "sigma"],
        DistKind::Uniform => &["min", "max"],
        DistKind::Empirical => &["values", "weights"],
    };
    let present = [
        ("value", f.value.is_some()),
        ("mean", f.mean.is_some()),
        ("median", f.median.is_some()),
        ("sigma", f.sigma.is_some()),
        ("min", f.min.is_some()),
        ("max", f.max.is_some()),
        ("values", f.values.is_some()),
        ("weights", f.weights.is_some()),
    ];
    if let Some((k, _)) = present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
        return bad(
            format!("{path}.{k}"),
            format!(
                "not a parameter of this distribution; expected: {}",
                allowed.join(", ")
            ),
        );
    }
    Ok(())
}

/// `dist = "empirical"`: values in range, one non-negative weight per value (default equal),
/// kept as a cumulative distribution.
fn empirical(path: &str, f: &FileDist) -> Built<Dist> {
    let values: Vec<f64> = match &f.values {
        Some(v) if !v.is_empty() => v.iter().map(|x| x.0).collect(),
        _ => return bad(format!("{path}.values"), "expected a non-empty list"),
    };
    if let Some(x) = values
        .iter()
        .find(|x| !(x.is_finite() && **x >= 0.0 && **x < 1e15))
    {
        return bad(
            format!("{path}.values"),
            format!("{x} is out of range; expected 0 to 1e15"),
        );
    }
    let weights = f.weights.clone().unwrap_or_else(|| vec![1.0; values.len()]);
    if weights.len() != values.len() {
        return bad(
            format!("{path}.weights"),
            format!(
                "{} weights for {} values; expected one per value",
                weights.len(),
                values.len()
            ),
        );
    }
    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || weights.iter().sum::<f64>() <= 0.0 {
        return bad(
            format!("{path}.weights"),
            "expected non-negative weights with a positive sum",
        );
    }
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let cumulative = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    Ok(Dist::Empirical { values, cumulative })
}
