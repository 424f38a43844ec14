//! The time series kept in bounded memory: at most [`MAX_ROWS`] rows however many samples the
//! horizon and `report_interval` give. Up to that many every sample is kept as it is (every
//! shipped scenario and golden); past it, adjacent samples are merged pairwise into buckets of
//! 2, 4, 8, ... samples, each column the exact maximum over the samples merged (the counters
//! `work_demanded` and `work_served` never decrease, so theirs is the value at the bucket's last
//! sample) and `time_s` the bucket's last sample time. The maximum keeps integers integers (the
//! CSV's columns do not change type) and merges exactly in any grouping, so the result does not
//! depend on when the merges happened.

use crate::fleet::metrics::Sample;

/// Rows kept at most (instants times series): about 30 MB of rows, and charts of at most
/// [`MAX_INSTANTS`] points a line.
pub(crate) const MAX_ROWS: usize = 200_000;

/// Sample instants kept at most, whatever the number of series: a year of hourly samples
/// (8,760) stays whole.
pub(crate) const MAX_INSTANTS: usize = 16_384;

/// The kept rows: instant after instant, each instant one row per series in a fixed order.
#[derive(Default)]
pub(crate) struct Series {
    rows: Vec<Sample>,
    /// Rows of one instant (learnt from the first).
    width: usize,
    /// Rows pushed for the instant being sampled.
    pending: usize,
    /// Samples merged into each full bucket (a power of two; 1 until the first merge).
    per_bucket: u64,
    /// Samples in the last bucket (at most `per_bucket`).
    last_count: u64,
    /// Buckets kept at most before merging pairs.
    cap: usize,
}

impl Series {
    /// Add one row of the instant being sampled; [`Series::close`] ends the instant.
    pub(crate) fn push(&mut self, s: Sample) {
        let instants = self.instants();
        let open = self.per_bucket > 1 && self.last_count < self.per_bucket;
        if open && instants > 0 {
            let i = (instants - 1) * self.width + self.pending;
            merge(&mut self.rows[i], &s);
        } else {
            self.rows.push(s);
        }
        self.pending += 1;
    }

    /// The instant is complete: count it, and halve the buckets when there are too many.
    pub(crate) fn close(&mut self) {
        if self.width == 0 {
            self.width = self.pending.max(1);
            self.per_bucket = 1;
            self.cap = (MAX_ROWS / self.width).clamp(2, MAX_INSTANTS);
        }
        self.pending = 0;
        self.last_count = if self.last_count < self.per_bucket && self.per_bucket > 1 {
            self.last_count + 1
        } else {
            1
        };
        if self.instants() > self.cap {
            self.halve();
        }
    }

    /// Samples merged into each row but maybe the last (1 when every sample is kept).
    pub(crate) fn samples_per_row(&self) -> u64 {
        self.per_bucket.max(1)
    }

    /// The rows, instant after instant.
    pub(crate) fn rows(&self) -> &[Sample] {
        &self.rows
    }

    /// Take the rows.
    pub(crate) fn take(&mut self) -> Vec<Sample> {
        std::mem::take(&mut self.rows)
    }

    fn instants(&self) -> usize {
        self.rows.len().checked_div(self.width).unwrap_or(0)
    }

    /// Merge buckets two by two (an odd last one stays alone, then partly filled).
    fn halve(&mut self) {
        let (w, n) = (self.width, self.instants());
        for b in 0..n / 2 {
            for k in 0..w {
                let second = self.rows[(2 * b + 1) * w + k].clone();
                let mut first = std::mem::take(&mut self.rows[2 * b * w + k]);
                merge(&mut first, &second);
                self.rows[b * w + k] = first;
            }
        }
        let mut last_count = self.per_bucket * 2;
        if n % 2 == 1 {
            for k in 0..w {
                self.rows[(n / 2) * w + k] = std::mem::take(&mut self.rows[(n - 1) * w + k]);
            }
            last_count = self.last_count;
        } else if self.last_count < self.per_bucket {
            last_count = self.per_bucket + self.last_count;
        }
        self.rows.truncate(n.div_ceil(2) * w);
        self.per_bucket *= 2;
        self.last_count = last_count;
    }
}

/// One tenant's backlog trend over the raw samples of the horizon's last quarter, accumulated
/// as they come (Welford's running means and co-moments), for when the kept rows are merged
/// buckets: the slope and its t statistic are then those of every sample, not of the buckets'
/// maxima. While every sample is kept the two-pass formula over the rows is used instead, so
/// such runs' numbers stay bit for bit what they were.
#[derive(Clone, Default)]
pub(crate) struct Trend {
    n: u64,
    mean_x: f64,
    mean_y: f64,
    /// Sum of (x - mean_x)^2.
    sxx: f64,
    /// Sum of (x - mean_x) (y - mean_y).
    sxy: f64,
    /// Sum of (y - mean_y)^2.
    syy: f64,
    first_y: f64,
    last_y: f64,
}

impl Trend {
    /// Add the point (`x` hours, `y`).
    pub(crate) fn add(&mut self, x: f64, y: f64) {
        if self.n == 0 {
            self.first_y = y;
        }
        self.last_y = y;
        self.n += 1;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.sxx += dx * (x - self.mean_x);
        self.sxy += dx * (y - self.mean_y);
        self.syy += dy * (y - self.mean_y);
    }

    /// The least-squares slope, its t statistic (as
    /// [`least_squares_slope`](super::least_squares_slope)), and whether the last point is
    /// above the first with at least three points.
    pub(crate) fn slope(&self) -> (f64, f64, bool) {
        let rising = self.n >= 3 && self.last_y > self.first_y;
        if self.n < 2 || self.sxx <= 0.0 {
            return (0.0, 0.0, rising);
        }
        let slope = self.sxy / self.sxx;
        if self.n < 3 {
            return (slope, 0.0, rising);
        }
        let ssr = (self.syy - slope * self.sxy).max(0.0);
        let t = super::slope_t(slope, ssr, self.n as f64, self.sxx);
        (slope, t, rising)
    }
}

/// Fold the later sample `b` into the bucket `a`: every column its maximum, the time the later.
fn merge(a: &mut Sample, b: &Sample) {
    debug_assert_eq!(a.series, b.series);
    a.time_s = a.time_s.max(b.time_s);
    for (x, y) in [
        (&mut a.chips_installed, b.chips_installed),
        (&mut a.chips_up, b.chips_up),
        (&mut a.chips_allocated, b.chips_allocated),
        (&mut a.chips_nominal, b.chips_nominal),
        (&mut a.chips_reserved, b.chips_reserved),
        (&mut a.chips_borrowed, b.chips_borrowed),
        (&mut a.jobs_queued, b.jobs_queued),
        (&mut a.chips_queued, b.chips_queued),
        (&mut a.chips_fragmented, b.chips_fragmented),
    ] {
        *x = (*x).max(y);
    }
    for (x, y) in [
        (&mut a.work_queued, b.work_queued),
        (&mut a.work_demanded, b.work_demanded),
        (&mut a.work_served, b.work_served),
    ] {
        *x = x.max(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: u64, series: &str, v: u64) -> Sample {
        Sample {
            time_s: t,
            series: series.into(),
            chips_allocated: v,
            work_served: t as f64,
            ..Default::default()
        }
    }

    /// Push `n` instants of two series (values from `f`), return the series.
    fn fill(n: u64, f: impl Fn(u64) -> u64) -> Series {
        let mut s = Series::default();
        for i in 0..n {
            s.push(sample(i, "a", f(i)));
            s.push(sample(i, "b", 2 * f(i)));
            s.close();
        }
        s
    }

    #[test]
    fn keeps_every_sample_up_to_the_cap() {
        let s = fill(MAX_INSTANTS as u64, |i| i % 7);
        assert_eq!(s.samples_per_row(), 1);
        assert_eq!(s.rows().len(), 2 * MAX_INSTANTS);
        assert_eq!(s.rows()[5], sample(2, "b", 4));
    }

    #[test]
    fn merges_into_buckets_with_exact_maxima() {
        let n = 10 * MAX_INSTANTS as u64 + 3;
        let f = |i: u64| (i * 7919) % 1000;
        let s = fill(n, f);
        let k = s.samples_per_row();
        assert_eq!(k, 16);
        let rows = s.rows();
        assert!(rows.len() / 2 <= MAX_INSTANTS);
        assert_eq!(rows.len() / 2, n.div_ceil(k) as usize);
        for (b, pair) in rows.chunks(2).enumerate() {
            let (from, to) = (b as u64 * k, ((b as u64 + 1) * k).min(n));
            let max = (from..to).map(f).max().unwrap();
            assert_eq!(pair[0], sample(to - 1, "a", max), "bucket {b}");
            assert_eq!(pair[1].chips_allocated, 2 * max);
        }
    }

    #[test]
    fn trend_matches_the_two_pass_slope() {
        let pts: Vec<(f64, f64)> = (0..500)
            .map(|i| (i as f64 * 0.5, 3.0 * i as f64 + ((i * 37) % 11) as f64))
            .collect();
        let mut t = Trend::default();
        for &(x, y) in &pts {
            t.add(x, y);
        }
        let (slope, t_stat, rising) = t.slope();
        let (want_slope, want_t) = super::super::least_squares_slope(&pts);
        assert!((slope - want_slope).abs() < 1e-9 * want_slope.abs());
        assert!((t_stat - want_t).abs() < 1e-6 * want_t.abs());
        assert!(rising);
    }

    #[test]
    fn one_series_over_a_million_instants_stays_bounded() {
        let mut s = Series::default();
        for i in 0..1_000_000u64 {
            s.push(sample(i, "*fleet*", i));
            s.close();
        }
        assert!(s.rows().len() <= MAX_INSTANTS);
        let last = s.rows().last().unwrap();
        assert_eq!((last.time_s, last.chips_allocated), (999_999, 999_999));
    }
}
