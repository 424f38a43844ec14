//! Special functions the engines compute that Rust's standard library lacks, in f64 so that one
//! rounding to f32 (or narrower) gives the value the hardware's storage holds.

use std::f64::consts::PI;

/// Below this |x|, [`erf`] sums the series; above, it evaluates the continued fraction of erfc.
const SERIES_LIMIT: f64 = 3.0;

/// The error function, `erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt`, to a few f64 ulps.
///
/// Two classical expansions (Abramowitz & Stegun, *Handbook of Mathematical Functions*):
/// for |x| < 3 the series 7.1.6, `erf x = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))`,
/// whose terms are all positive (no cancellation, unlike the Taylor series); beyond, 1 - erfc
/// with erfc from the continued fraction 7.1.14,
/// `erfc x = e^(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`, which converges
/// fast there (and erfc < 2.3e-5, so 1 - erfc keeps full precision). NaN gives NaN; odd in x.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let y = if a < SERIES_LIMIT {
        erf_series(a)
    } else if a < 6.0 {
        1.0 - erfc_fraction(a)
    } else {
        // erfc(6) is 2e-17: below half an f64 ulp of 1.
        1.0
    };
    if x < 0.0 { -y } else { y }
}

/// A&S 7.1.6 for 0 <= a < 3: about 70 terms at a = 3, each term positive.
fn erf_series(a: f64) -> f64 {
    let x2 = a * a;
    let mut term = a;
    let mut sum = a;
    let mut n = 0.0;
    // The terms rise until 2n + 3 > 2x^2 and then fall geometrically; stop when one no longer
    // changes the sum.
    loop {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        let next = sum + term;
        if next == sum {
            break;
        }
        sum = next;
    }
    2.0 / PI.sqrt() * (-x2).exp() * sum
}

/// A&S 7.1.14 for a >= 3, evaluated from the tail (depth 60 is exact to f64 there).
fn erfc_fraction(a: f64) -> f64 {
    let mut f = a;
    for k in (1..=60).rev() {
        f = a + (k as f64 / 2.0) / f;
    }
    (-a * a).exp() / (PI.sqrt() * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values: Python's `math.erf` (the C library's, within an ulp), to 16 digits.
    #[test]
    fn erf_matches_known_values() {
        let known = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (2.9, 0.9999589021219005),
            (3.0, 0.9999779095030014),
            (3.5, 0.9999992569016276),
            (4.0, 0.9999999845827421),
            (-0.5, -0.5204998778130465),
        ];
        for (x, want) in known {
            let got = erf(x);
            assert!(
                (got - want).abs() <= 4.0 * f64::EPSILON * want.abs().max(1e-300),
                "erf({x}) = {got}, want {want}"
            );
        }
        assert!(erf(f64::NAN).is_nan());
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
    }

    /// erfc itself near the switch, where 1 - erf loses digits: erfc(3) = 2.209049699858544e-5.
    #[test]
    fn erfc_tail_is_accurate() {
        let got = erfc_fraction(3.0);
        assert!((got / 2.209049699858544e-5 - 1.0).abs() < 1e-13, "{got}");
        let got = erfc_fraction(5.0);
        assert!((got / 1.5374597944280351e-12 - 1.0).abs() < 1e-13, "{got}");
    }
}
