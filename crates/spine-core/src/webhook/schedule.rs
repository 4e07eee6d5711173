//! When a failed delivery is tried again, and when an endpoint is given up on (SPEC section 8).
//!
//! After a failure (an answer outside 2xx, no answer within 15 s, no connection) the event is
//! sent again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: eight attempts in all, about
//! 27.6 hours; after the eighth the delivery is `failed` and the endpoint moves on to its next
//! event. An answer of `429` or `503` with `Retry-After` is not tried again before the time it
//! asks for (at most a day). A `410 Gone` disables the endpoint at once; an endpoint whose every
//! attempt has failed for 5 days is disabled.

use std::time::Duration;

/// The waits after the first, second... seventh failed attempt.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long an endpoint may fail every attempt before it is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 86_400);

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// Any other answer with its status and, for 429 and 503, its `Retry-After`.
    Refused {
        /// The status code.
        status: u16,
        /// The wait the receiver asked for.
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed, the address is refused, or 15 s passed.
    NoAnswer,
}

impl Outcome {
    /// The outcome of an answer with `status` and, perhaps, a `Retry-After` header value.
    pub fn of_status(status: u16, retry_after: Option<&str>) -> Self {
        if (200..300).contains(&status) {
            return Self::Delivered;
        }
        let retry_after = match status {
            429 | 503 => retry_after.and_then(parse_retry_after),
            _ => None,
        };
        Self::Refused { status, retry_after }
    }
}

/// A `Retry-After` in seconds (the HTTP date form is not used by the receivers that matter
/// and is ignored), capped at a day.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The event is done (delivered): go on to the next one.
    Advance,
    /// Try this event again after the wait.
    Retry(Duration),
    /// Give up on this event (its attempts are spent) and go on to the next one.
    GiveUp,
    /// Disable the endpoint (it answered `410 Gone`, or has failed everything for 5 days).
    Disable(&'static str),
}

/// The decision after attempt number `attempt` (1 for the first) of an event came to
/// `outcome`; `failing_for` is how long every attempt to the endpoint has failed, this one
/// included (`None` when the endpoint's last attempt before this one succeeded).
pub fn after(attempt: u32, outcome: Outcome, failing_for: Option<Duration>) -> Next {
    after_with(&RETRY_DELAYS, attempt, outcome, failing_for)
}

/// [`after`] with other waits (`delays.len() + 1` attempts in all), for tests that cannot wait
/// for the real schedule.
pub fn after_with(
    delays: &[Duration],
    attempt: u32,
    outcome: Outcome,
    failing_for: Option<Duration>,
) -> Next {
    if outcome == Outcome::Delivered {
        return Next::Advance;
    }
    if let Outcome::Refused { status: 410, .. } = outcome {
        return Next::Disable("the endpoint answered 410 Gone");
    }
    if failing_for.is_some_and(|f| f >= DISABLE_AFTER) {
        return Next::Disable("every attempt failed for 5 days");
    }
    let Some(wait) = attempt.checked_sub(1).and_then(|i| delays.get(i as usize)) else {
        return Next::GiveUp;
    };
    match outcome {
        Outcome::Refused { retry_after: Some(asked), .. } => Next::Retry((*wait).max(asked)),
        _ => Next::Retry(*wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FAIL: Outcome = Outcome::Refused { status: 500, retry_after: None };

    #[test]
    fn the_schedule_of_the_spec() {
        let waits: Vec<Next> = (1..=8).map(|n| after(n, FAIL, None)).collect();
        let minutes = |m: u64| Next::Retry(Duration::from_secs(m * 60));
        assert_eq!(
            waits,
            [
                Next::Retry(Duration::from_secs(5)),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
                Next::GiveUp
            ]
        );
        assert_eq!(after(3, Outcome::NoAnswer, None), minutes(30));
        assert_eq!(after(1, Outcome::Delivered, Some(DISABLE_AFTER * 2)), Next::Advance);
    }

    #[test]
    fn gone_and_long_failure_disable() {
        let gone = Outcome::of_status(410, None);
        assert!(matches!(after(1, gone, None), Next::Disable(_)));
        assert!(matches!(after(2, FAIL, Some(DISABLE_AFTER)), Next::Disable(_)));
        assert_eq!(after(2, FAIL, Some(DISABLE_AFTER / 2)), Next::Retry(Duration::from_secs(300)));
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only() {
        assert_eq!(
            Outcome::of_status(429, Some("120")),
            Outcome::Refused { status: 429, retry_after: Some(Duration::from_secs(120)) }
        );
        assert_eq!(Outcome::of_status(500, Some("120")), FAIL);
        assert_eq!(Outcome::of_status(204, None), Outcome::Delivered);
        let asked = Outcome::of_status(503, Some("900"));
        assert_eq!(after(1, asked, None), Next::Retry(Duration::from_secs(900)), "later than 5 s");
        let sooner = Outcome::of_status(503, Some("1"));
        assert_eq!(after(2, sooner, None), Next::Retry(Duration::from_secs(300)), "never sooner");
        let huge = Outcome::of_status(429, Some("99999999"));
        assert_eq!(after(1, huge, None), Next::Retry(MAX_RETRY_AFTER));
        assert_eq!(
            Outcome::of_status(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Outcome::Refused { status: 429, retry_after: None }
        );
    }

    proptest! {
        #[test]
        fn every_failure_ends_within_eight_attempts(status in 0u16..1000, attempt in 1u32..20) {
            let outcome = Outcome::of_status(status, Some("30"));
            match after(attempt, outcome, None) {
                Next::Advance => prop_assert!((200..300).contains(&status)),
                Next::Retry(wait) => prop_assert!(attempt < 8 && wait >= Duration::from_secs(5) && wait <= MAX_RETRY_AFTER),
                Next::GiveUp => prop_assert!(attempt >= 8),
                Next::Disable(_) => prop_assert_eq!(status, 410),
            }
        }
    }
}
