//! Percentiles, rates and report rows.

use serde::Serialize;
use std::time::Duration;

/// One line of the report: a figure, the baseline measured in the same run, and the target.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What was measured.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// The baseline's figure in the same unit, when there is one.
    pub baseline: Option<f64>,
    /// SPEC section 12's target, as text.
    pub target: &'static str,
}

impl Row {
    /// A row, printed as soon as it is made.
    pub fn new(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        baseline: Option<f64>,
        target: &'static str,
    ) -> Self {
        let row = Self { name: name.into(), value, unit, baseline, target };
        row.print();
        row
    }

    fn print(&self) {
        let ratio = match self.baseline {
            Some(b) if b > 0.0 => format!("{:>7.2}x", self.value / b),
            _ => format!("{:>8}", "-"),
        };
        let baseline = self.baseline.map(fmt_num).unwrap_or_else(|| "-".to_owned());
        println!(
            "{:<52} {:>12} {:<8} {:>12} {} {}",
            self.name,
            fmt_num(self.value),
            self.unit,
            baseline,
            ratio,
            self.target
        );
    }
}

/// Prints the column titles.
pub fn print_header() {
    println!(
        "{:<52} {:>12} {:<8} {:>12} {:>8} target",
        "measurement", "value", "unit", "baseline", "ratio"
    );
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Latency percentiles of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

/// Percentiles of `samples` (sorted in place); zero for an empty sample.
pub fn percentiles(samples: &mut [Duration]) -> Percentiles {
    if samples.is_empty() {
        let zero = Duration::ZERO;
        return Percentiles { p50: zero, p99: zero, p999: zero, max: zero };
    }
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Percentiles { p50: at(0.50), p99: at(0.99), p999: at(0.999), max: samples[samples.len() - 1] }
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(&mut s);
        assert_eq!(p.p50, Duration::from_millis(51));
        assert_eq!(p.p99, Duration::from_millis(99));
        assert_eq!(p.max, Duration::from_millis(100));
    }
}
