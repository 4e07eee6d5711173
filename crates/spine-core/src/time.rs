//! `Timestamp`: a UTC instant with microsecond precision, RFC 3339 on the wire and an integer of
//! microseconds in storage (so keyset comparisons are integer comparisons).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A UTC instant truncated to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The earliest instant accepted: 1970-01-01.
    pub const MIN: Timestamp = Timestamp(0);
    /// The latest instant accepted: 9999-12-31T23:59:59.999999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// The current instant. The only impure function of the core, kept here so callers can pass
    /// time explicitly everywhere else.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc()).unwrap_or(Self::MAX)
    }

    /// From microseconds since the Unix epoch, if within `MIN..=MAX`.
    pub fn from_micros(micros: i64) -> Option<Self> {
        (Self::MIN.0..=Self::MAX.0).contains(&micros).then_some(Self(micros))
    }

    /// Microseconds since the Unix epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// This instant moved by `seconds`, saturating at the bounds.
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(
            self.0
                .saturating_add(seconds.saturating_mul(1_000_000))
                .clamp(Self::MIN.0, Self::MAX.0),
        )
    }

    /// This instant moved by `duration`, saturating at the latest instant.
    pub fn plus(self, duration: std::time::Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros).clamp(Self::MIN.0, Self::MAX.0))
    }

    /// How long after `earlier` this instant is (zero when it is not after it).
    pub fn since(self, earlier: Self) -> std::time::Duration {
        std::time::Duration::from_micros(u64::try_from(self.0 - earlier.0).unwrap_or(0))
    }

    /// Parses RFC 3339 (any offset), truncating below the microsecond.
    pub fn parse(s: &str) -> Result<Self, String> {
        let dt = OffsetDateTime::parse(s, &Rfc3339)
            .map_err(|_| "must be an RFC 3339 timestamp, e.g. 2026-01-31T12:00:00Z".to_owned())?;
        Self::from_datetime(dt).ok_or_else(|| "must be between 1970 and 9999".to_owned())
    }

    fn from_datetime(dt: OffsetDateTime) -> Option<Self> {
        let micros = i64::try_from(dt.unix_timestamp_nanos() / 1_000).ok()?;
        Self::from_micros(micros)
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-01-31T12:00:00.000000Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        dt.format(&fmt).unwrap_or_default()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_offsets_into_utc() {
        let t = Timestamp::parse("2026-01-31T13:00:00.1234567+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-31T12:00:00.123456Z");
    }

    #[test]
    fn rejects_garbage_and_pre_epoch() {
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("1969-12-31T23:59:59Z").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(micros in Timestamp::MIN.0..=Timestamp::MAX.0) {
            let t = Timestamp::from_micros(micros).unwrap();
            prop_assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
        }
    }
}
