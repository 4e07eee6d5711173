//! Rate limits and storage quotas, the pure part: the limits document of `PUT /v1/limits`, how
//! the operator's ceiling, the installation's defaults and the tenant's own choice combine, and
//! the token bucket every limit is counted in.
//!
//! Buckets follow the generic cell rate algorithm (GCRA): a bucket is one instant, its
//! *theoretical arrival time*. Taking `cost` tokens moves it `cost` emission intervals later; the
//! request is admitted when that instant is at most `capacity` intervals ahead of now. So a
//! bucket is one `u64`, refills continuously, and says exactly when a refused request would fit.

use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};

/// The largest rate or burst a limit may name.
pub const MAX_RATE: u64 = 1_000_000_000;
/// The largest event quota.
pub const MAX_EVENTS: u64 = 1_000_000_000_000;
/// The largest blob quota (1 PiB).
pub const MAX_BLOB_BYTES: u64 = 1 << 50;

/// The limits of one tenant, as `PUT /v1/limits` takes them and `GET /v1/limits` shows them.
/// An absent field means "no limit of my own": the operator's ceiling (or the installation
/// default) applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LimitsInput {
    /// Events written per second, for the whole tenant (a batch counts its events; any other
    /// change counts one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_per_second: Option<u64>,
    /// Events the tenant may write at once before the rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_burst: Option<u64>,
    /// Request body bytes written per second, for the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_bytes_per_second: Option<u64>,
    /// Read requests (feeds, searches, stream opens) per second, for the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_per_second: Option<u64>,
    /// Read requests the tenant may make at once before the rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_burst: Option<u64>,
    /// Writes per second for any one credential (API key, session or viewer), so one leaked
    /// key cannot take the whole tenant's share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_writes_per_second: Option<u64>,
    /// Request body bytes written per second by any one credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_write_bytes_per_second: Option<u64>,
    /// Reads per second for any one credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_reads_per_second: Option<u64>,
    /// Provider deliveries per second to any one ingestion channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_per_second: Option<u64>,
    /// Deliveries a channel may take at once before the rate applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_burst: Option<u64>,
    /// The most events the tenant may hold (retention removes old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// The most bytes of uploaded files the tenant may hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blob_bytes: Option<u64>,
}

/// Each field with its name and largest value, in the document's order.
type Field =
    (&'static str, fn(&LimitsInput) -> Option<u64>, fn(&mut LimitsInput) -> &mut Option<u64>, u64);

const FIELDS: [Field; 12] = [
    ("writes_per_second", |l| l.writes_per_second, |l| &mut l.writes_per_second, MAX_RATE),
    ("write_burst", |l| l.write_burst, |l| &mut l.write_burst, MAX_RATE),
    (
        "write_bytes_per_second",
        |l| l.write_bytes_per_second,
        |l| &mut l.write_bytes_per_second,
        MAX_RATE,
    ),
    ("reads_per_second", |l| l.reads_per_second, |l| &mut l.reads_per_second, MAX_RATE),
    ("read_burst", |l| l.read_burst, |l| &mut l.read_burst, MAX_RATE),
    (
        "key_writes_per_second",
        |l| l.key_writes_per_second,
        |l| &mut l.key_writes_per_second,
        MAX_RATE,
    ),
    (
        "key_write_bytes_per_second",
        |l| l.key_write_bytes_per_second,
        |l| &mut l.key_write_bytes_per_second,
        MAX_RATE,
    ),
    ("key_reads_per_second", |l| l.key_reads_per_second, |l| &mut l.key_reads_per_second, MAX_RATE),
    ("ingest_per_second", |l| l.ingest_per_second, |l| &mut l.ingest_per_second, MAX_RATE),
    ("ingest_burst", |l| l.ingest_burst, |l| &mut l.ingest_burst, MAX_RATE),
    ("max_events", |l| l.max_events, |l| &mut l.max_events, MAX_EVENTS),
    ("max_blob_bytes", |l| l.max_blob_bytes, |l| &mut l.max_blob_bytes, MAX_BLOB_BYTES),
];

impl LimitsInput {
    /// Checks every field is within 1 and its largest value, reporting all errors at once.
    pub fn validate(self) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (name, get, _, max) in FIELDS {
            if get(&self).is_some_and(|v| v == 0 || v > max) {
                errors.push(name, format!("must be 1-{max}, or absent for no limit of its own"));
            }
        }
        errors.into_result(self)
    }

    /// The fields above `ceiling`'s (absent in `ceiling`: no ceiling), as errors naming it.
    pub fn above(&self, ceiling: &LimitsInput) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (name, get, _, _) in FIELDS {
            if let (Some(mine), Some(top)) = (get(self), get(ceiling)) {
                if mine > top {
                    errors.push(name, format!("must be at most {top}, the operator's ceiling"));
                }
            }
        }
        errors.into_result(())
    }

    /// Each field of `self`, or `fallback`'s where `self` has none.
    pub fn or(&self, fallback: &LimitsInput) -> LimitsInput {
        let mut out = *self;
        for (_, get, set, _) in FIELDS {
            if get(self).is_none() {
                *set(&mut out) = get(fallback);
            }
        }
        out
    }

    /// The lower of each field (absent counts as unlimited).
    pub fn min(&self, other: &LimitsInput) -> LimitsInput {
        let mut out = *self;
        for (_, get, set, _) in FIELDS {
            *set(&mut out) = match (get(self), get(other)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    /// The limits in force: the tenant's own within the ceiling, where the ceiling is the
    /// operator's for this tenant or else the installation's defaults.
    pub fn effective(
        defaults: &LimitsInput,
        ceiling: Option<&LimitsInput>,
        own: Option<&LimitsInput>,
    ) -> LimitsInput {
        let ceiling = ceiling.map_or(*defaults, |c| c.or(defaults));
        own.map_or(ceiling, |o| o.min(&ceiling))
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        FIELDS.iter().all(|(_, get, _, _)| get(self).is_none())
    }
}

/// A token bucket's shape: it refills one token every `interval_ns` and holds `capacity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Nanoseconds per token (one second over the rate).
    pub interval_ns: u64,
    /// Tokens a full bucket holds (the burst).
    pub capacity: u64,
}

impl Bucket {
    /// A bucket of `rate` tokens a second holding `burst`, shared among `share` nodes: each
    /// node counts `rate / share` a second and holds `burst / share` (at least one token).
    pub fn new(rate: u64, burst: u64, share: u64) -> Self {
        let share = share.max(1);
        let interval_ns = (1_000_000_000 / rate.max(1)).max(1).saturating_mul(share);
        Self { interval_ns, capacity: (burst / share).max(1) }
    }

    /// The whole bucket, in nanoseconds.
    fn window(&self) -> u64 {
        self.capacity.saturating_mul(self.interval_ns)
    }

    /// Takes `cost` tokens at `now` from a bucket whose theoretical arrival time is `tat`. A
    /// cost above the capacity (a batch larger than the burst) is admitted only into a full
    /// bucket and leaves it in debt until the rate has paid for all of it, so no request is
    /// refused forever and the long-run rate still holds.
    pub fn take(&self, tat: u64, now: u64, cost: u64) -> Result<Taken, Refused> {
        let cost = cost.max(1);
        let next = tat.max(now).saturating_add(cost.saturating_mul(self.interval_ns));
        if cost > self.capacity {
            if tat > now {
                return Err(Refused {
                    retry_after_ns: tat - now,
                    remaining: self.window().saturating_sub(tat - now) / self.interval_ns,
                    reset_ns: tat - now,
                });
            }
            return Ok(Taken { tat: next, remaining: 0, reset_ns: next - now });
        }
        let allowed_until = now.saturating_add(self.window());
        if next > allowed_until {
            let free = allowed_until.saturating_sub(tat.max(now));
            return Err(Refused {
                retry_after_ns: next - allowed_until,
                remaining: free / self.interval_ns,
                reset_ns: tat.saturating_sub(now),
            });
        }
        Ok(Taken {
            tat: next,
            remaining: (allowed_until - next) / self.interval_ns,
            reset_ns: next - now,
        })
    }
}

/// What an admitted request leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The bucket's new theoretical arrival time.
    pub tat: u64,
    /// Tokens left.
    pub remaining: u64,
    /// Nanoseconds until the bucket is full again.
    pub reset_ns: u64,
}

/// Why a request was refused, and when it would fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Nanoseconds until the same request would be admitted.
    pub retry_after_ns: u64,
    /// Tokens left now.
    pub remaining: u64,
    /// Nanoseconds until the bucket is full again.
    pub reset_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_full_bucket_admits_its_burst_then_refuses_until_a_token_returns() {
        let b = Bucket::new(10, 5, 1);
        let mut tat = 0;
        for left in (0..5).rev() {
            let t = b.take(tat, SECOND, 1).unwrap();
            assert_eq!(t.remaining, left);
            tat = t.tat;
        }
        let refused = b.take(tat, SECOND, 1).unwrap_err();
        assert_eq!(refused.retry_after_ns, SECOND / 10);
        assert_eq!(refused.remaining, 0);
        assert!(b.take(tat, SECOND + SECOND / 10, 1).is_ok(), "one token back after 100 ms");
    }

    #[test]
    fn a_cost_above_the_capacity_needs_a_full_bucket_and_leaves_a_debt() {
        let b = Bucket::new(100, 10, 1);
        let t = b.take(0, SECOND, 1_000).unwrap();
        assert_eq!((t.remaining, t.reset_ns), (0, 10 * SECOND), "1,000 tokens at 100/s");
        let refused = b.take(t.tat, SECOND, 1).unwrap_err();
        assert_eq!(refused.retry_after_ns, 10 * SECOND - SECOND / 10 + SECOND / 100);
        let half = b.take(0, SECOND, 5).unwrap();
        assert!(b.take(half.tat, SECOND, 1_000).is_err(), "only into a full bucket");
        assert!(b.take(half.tat, SECOND + SECOND / 20, 1_000).is_ok(), "full again after 50 ms");
    }

    #[test]
    fn a_share_divides_rate_and_burst() {
        let b = Bucket::new(100, 40, 2);
        assert_eq!(b, Bucket { interval_ns: 20_000_000, capacity: 20 });
        assert_eq!(Bucket::new(1, 1, 3).capacity, 1, "never an empty bucket");
    }

    #[test]
    fn effective_limits_keep_the_tenant_within_the_ceiling() {
        let defaults = LimitsInput {
            writes_per_second: Some(100),
            reads_per_second: Some(50),
            ..Default::default()
        };
        let ceiling = LimitsInput { writes_per_second: Some(1_000), ..Default::default() };
        let own = LimitsInput {
            writes_per_second: Some(5_000),
            read_burst: Some(7),
            ..Default::default()
        };
        let e = LimitsInput::effective(&defaults, Some(&ceiling), Some(&own));
        assert_eq!(e.writes_per_second, Some(1_000), "the ceiling wins over a higher own value");
        assert_eq!(
            e.reads_per_second,
            Some(50),
            "a ceiling without the field falls back to the default"
        );
        assert_eq!(e.read_burst, Some(7), "an own value where nothing caps it");
        assert_eq!(LimitsInput::effective(&defaults, None, None), defaults);
        assert!(own.above(&ceiling.or(&defaults)).is_err());
    }

    #[test]
    fn zero_and_huge_values_are_refused_by_name() {
        let bad = LimitsInput {
            writes_per_second: Some(0),
            max_events: Some(u64::MAX),
            ..Default::default()
        };
        let errors = bad.validate().unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["writes_per_second", "max_events"]);
    }

    proptest! {
        /// Over any window, a bucket admits at most its capacity plus what the rate refills.
        #[test]
        fn a_bucket_never_admits_more_than_burst_plus_rate(
            rate in 1u64..1_000, burst in 1u64..200, share in 1u64..4,
            steps in proptest::collection::vec((0u64..50_000_000, 1u64..20), 1..300),
        ) {
            let b = Bucket::new(rate, burst, share);
            let (mut tat, mut now, mut admitted) = (0u64, SECOND, 0u64);
            for (gap, cost) in steps {
                now += gap;
                if let Ok(t) = b.take(tat, now, cost) {
                    admitted += cost;
                    tat = t.tat;
                }
            }
            let refilled = (now - SECOND) / b.interval_ns;
            prop_assert!(admitted <= b.capacity + refilled + 20, "at most one oversized request over");
        }

        /// A refused request fits exactly when it is told to retry.
        #[test]
        fn retry_after_is_exact(rate in 1u64..1_000, burst in 1u64..50, used in 0u64..100, cost in 1u64..100) {
            let b = Bucket::new(rate, burst, 1);
            let mut tat = 0;
            for _ in 0..used {
                if let Ok(t) = b.take(tat, SECOND, 1) { tat = t.tat; }
            }
            if let Err(r) = b.take(tat, SECOND, cost) {
                prop_assert!(b.take(tat, SECOND + r.retry_after_ns, cost).is_ok());
                prop_assert!(b.take(tat, SECOND + r.retry_after_ns - 1, cost).is_err());
            }
        }
    }
}
