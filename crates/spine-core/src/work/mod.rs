//! The work pipeline's pure part (SPEC section 7): a job's states and the transitions a lease
//! allows, the lease token that fences a stolen job's old holder out, and the retry schedule.
//! The stores apply these rules inside their transactions; nothing here reads a clock or a
//! random source (both are passed in).
//!
//! - [`rule`]: queue rules, which turn matching events into jobs.
//! - [`job`]: the job record, what a new job is made of, and the events its transitions append.
//! - [`input`]: the wire shapes of claim, heartbeat, complete and fail, validated.

pub mod input;
pub mod job;
pub mod rule;

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting to be claimed (possibly not before its run-after time).
    Pending,
    /// Claimed under a lease; claimable again once the lease expires.
    Processing,
    /// Settled by its lease holder with a result.
    Completed,
    /// Failed by its lease holder and waiting for its retry time (it is claimable then).
    Failed,
    /// Out of attempts: only `retry` revives it.
    Dead,
}

impl JobStatus {
    /// Every status, in life order.
    pub const ALL: [JobStatus; 5] =
        [Self::Pending, Self::Processing, Self::Completed, Self::Failed, Self::Dead];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| "must be one of pending, processing, completed, failed, dead".to_owned())
    }

    /// Whether nothing more happens to the job unless someone retries it.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Completed | Self::Dead)
    }
}

/// What a job is, as far as claiming and settling go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    /// Its status.
    pub status: JobStatus,
    /// Claims so far (the attempt a holder works on is this number).
    pub attempt: u32,
    /// How many claims it may take before a failure makes it dead.
    pub max_attempts: u32,
    /// The current lease's fencing number (0 before the first claim); every claim takes a new,
    /// higher one, so a token names exactly one lease.
    pub lease: u64,
    /// When the current lease ends, Unix microseconds (processing jobs).
    pub lease_expires_at: i64,
    /// Not claimable before this, Unix microseconds (pending and failed jobs).
    pub run_after: i64,
}

/// Why a lease holder's call was refused: the API answers 409 and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The token names an older lease: the job was stolen after the lease expired, or settled.
    #[error("the lease token is stale: the job was claimed again or settled")]
    Stale,
    /// The lease expired and nobody has claimed the job since; it is no longer the caller's.
    #[error("the lease has expired")]
    Expired,
}

impl JobState {
    /// Whether a worker may claim the job at `now`: pending or failed and due, or processing
    /// with an expired lease (time-based work stealing).
    pub fn claimable(&self, now: i64) -> bool {
        match self.status {
            JobStatus::Pending | JobStatus::Failed => self.run_after <= now,
            JobStatus::Processing => self.lease_expires_at <= now,
            JobStatus::Completed | JobStatus::Dead => false,
        }
    }

    /// Claims the job under a new lease until `now + lease_micros`; `None` when it is not
    /// claimable. The new lease number fences out every earlier holder.
    pub fn claim(&self, now: i64, lease_micros: i64) -> Option<JobState> {
        self.claimable(now).then(|| JobState {
            status: JobStatus::Processing,
            attempt: self.attempt.saturating_add(1),
            lease: self.lease.saturating_add(1),
            lease_expires_at: now.saturating_add(lease_micros),
            ..*self
        })
    }

    /// A processing job whose lease expired on its last attempt: its worker stopped without
    /// settling it (crashed, killed, or stalled past the lease). Such a job is `dead`, as a
    /// failure on that attempt would make it, instead of being claimed past `max_attempts`: a job
    /// that kills every worker that runs it must not loop forever. `None` for any other job.
    pub fn abandon(&self, now: i64) -> Option<JobState> {
        (self.status == JobStatus::Processing
            && self.lease_expires_at <= now
            && self.attempt >= self.max_attempts)
            .then_some(JobState { status: JobStatus::Dead, ..*self })
    }

    /// Checks that `lease` is the current, unexpired lease of a processing job.
    pub fn check_lease(&self, lease: u64, now: i64) -> Result<(), LeaseError> {
        if self.status != JobStatus::Processing || lease != self.lease {
            return Err(LeaseError::Stale);
        }
        if self.lease_expires_at <= now {
            return Err(LeaseError::Expired);
        }
        Ok(())
    }

    /// Extends the holder's lease to `now + lease_micros`.
    pub fn heartbeat(
        &self,
        lease: u64,
        now: i64,
        lease_micros: i64,
    ) -> Result<JobState, LeaseError> {
        self.check_lease(lease, now)?;
        Ok(JobState { lease_expires_at: now.saturating_add(lease_micros), ..*self })
    }

    /// Settles the job as completed by its holder.
    pub fn complete(&self, lease: u64, now: i64) -> Result<JobState, LeaseError> {
        self.check_lease(lease, now)?;
        Ok(JobState { status: JobStatus::Completed, ..*self })
    }

    /// Fails the job by its holder: `failed`, claimable again after `retry_after_micros`, or
    /// `dead` when this was its last attempt.
    pub fn fail(
        &self,
        lease: u64,
        now: i64,
        retry_after_micros: i64,
    ) -> Result<JobState, LeaseError> {
        self.check_lease(lease, now)?;
        if self.attempt >= self.max_attempts {
            return Ok(JobState { status: JobStatus::Dead, ..*self });
        }
        Ok(JobState {
            status: JobStatus::Failed,
            run_after: now.saturating_add(retry_after_micros),
            ..*self
        })
    }

    /// Revives a dead or failed job (an admin's `retry`): pending now, with its attempts
    /// counted afresh. `None` for a job that is not dead or failed.
    pub fn retry(&self, now: i64) -> Option<JobState> {
        matches!(self.status, JobStatus::Dead | JobStatus::Failed).then(|| JobState {
            status: JobStatus::Pending,
            attempt: 0,
            run_after: now,
            ..*self
        })
    }
}

/// The default retry schedule: exponential from `base` seconds, doubling per attempt, capped at
/// `cap`, with "full jitter" (a uniform fraction of the delay, so failed jobs of one burst do not
/// come back in step). `unit` is a uniform sample in `[0, 1)` from the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first retry's delay before jitter, in seconds.
    pub base: f64,
    /// The longest delay, in seconds.
    pub cap: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: 5.0, cap: 3600.0 }
    }
}

impl Backoff {
    /// The delay before attempt `attempt + 1`, in microseconds, after attempt `attempt` (>= 1)
    /// failed: half the exponential delay fixed and half jittered, so a retry never comes back
    /// at once yet the batch spreads out.
    pub fn delay_micros(&self, attempt: u32, unit: f64) -> i64 {
        let exponent = attempt.saturating_sub(1).min(62);
        let full = (self.base * 2f64.powi(exponent as i32)).min(self.cap).max(0.0);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        let seconds = full / 2.0 + full / 2.0 * unit;
        (seconds * 1_000_000.0) as i64
    }
}

/// A lease token as the API shows it: `<job id>.<lease number>.<check>`, where the check is a
/// MAC the server computes over the first two parts, so a token cannot be forged or moved to
/// another job. Pure: the caller supplies the MAC function's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseToken {
    /// The job.
    pub job_id: uuid::Uuid,
    /// The lease number it names.
    pub lease: u64,
    /// The check, lower-case hex.
    pub check: String,
}

impl LeaseToken {
    /// What the check is computed over.
    pub fn signed_part(job_id: uuid::Uuid, lease: u64) -> String {
        format!("{job_id}.{lease}")
    }

    /// The token's text.
    pub fn expose(&self) -> String {
        format!("{}.{}", Self::signed_part(self.job_id, self.lease), self.check)
    }

    /// The token for lease `lease` of a job of `tenant`, checked with the installation secret.
    pub fn sign(secret: &[u8], tenant: &crate::TenantId, job_id: uuid::Uuid, lease: u64) -> Self {
        Self { job_id, lease, check: check(secret, tenant, job_id, lease) }
    }

    /// Whether the check is the one the installation secret gives for this tenant, job and
    /// lease (compared in constant time).
    pub fn verify(&self, secret: &[u8], tenant: &crate::TenantId) -> bool {
        let expected = check(secret, tenant, self.job_id, self.lease);
        bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), self.check.as_bytes()))
    }

    /// Parses a token's text (the check is verified by the caller, in constant time).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let (job, lease, check) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || check.is_empty() || check.len() > 128 {
            return None;
        }
        if !check.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        if lease.is_empty() || lease.len() > 20 || !lease.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            job_id: job.parse().ok()?,
            lease: lease.parse().ok()?,
            check: check.to_owned(),
        })
    }
}

/// The token's check: HMAC-SHA256 over the tenant and the signed part, 128 bits in hex.
fn check(secret: &[u8], tenant: &crate::TenantId, job_id: uuid::Uuid, lease: u64) -> String {
    use hmac::{Hmac, Mac};
    use std::fmt::Write;
    // HMAC takes keys of any length; the fallback key is never used.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<sha2::Sha256> as Mac>::new_from_slice(&[0]).expect("fixed key"));
    mac.update(b"spine-lease\0");
    mac.update(tenant.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(LeaseToken::signed_part(job_id, lease).as_bytes());
    let digest = mac.finalize().into_bytes();
    digest[..16].iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: i64 = 1_000_000;

    fn pending(max_attempts: u32) -> JobState {
        JobState {
            status: JobStatus::Pending,
            attempt: 0,
            max_attempts,
            lease: 0,
            lease_expires_at: 0,
            run_after: 0,
        }
    }

    #[test]
    fn a_stolen_lease_fences_out_its_old_holder() {
        let job = pending(3);
        let first = job.claim(10 * SEC, 2 * SEC).expect("claimable");
        assert_eq!((first.status, first.attempt, first.lease), (JobStatus::Processing, 1, 1));
        assert!(first.claim(11 * SEC, 2 * SEC).is_none(), "held while the lease runs");
        let kept = first.heartbeat(1, 11 * SEC, 2 * SEC).expect("the holder extends");
        assert_eq!(kept.lease_expires_at, 13 * SEC);
        // The holder pauses past its lease; another worker steals the job.
        let stolen = kept.claim(14 * SEC, 2 * SEC).expect("expired leases are claimable");
        assert_eq!((stolen.attempt, stolen.lease), (2, 2));
        assert_eq!(stolen.complete(1, 15 * SEC), Err(LeaseError::Stale));
        assert_eq!(stolen.heartbeat(1, 15 * SEC, SEC), Err(LeaseError::Stale));
        assert_eq!(stolen.fail(1, 15 * SEC, SEC), Err(LeaseError::Stale));
        let done = stolen.complete(2, 15 * SEC).expect("the new holder settles");
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(done.complete(2, 15 * SEC), Err(LeaseError::Stale), "settled once");
        assert!(done.claim(100 * SEC, SEC).is_none());
    }

    #[test]
    fn a_lease_that_expires_on_the_last_attempt_leaves_the_job_dead() {
        let mut job = pending(2);
        job = job.claim(0, SEC).expect("first");
        assert_eq!(job.abandon(2 * SEC), None, "a second attempt is left: it is stolen");
        job = job.claim(2 * SEC, SEC).expect("stolen");
        assert_eq!(job.abandon(2 * SEC), None, "its lease still runs");
        let dead = job.abandon(3 * SEC).expect("abandoned on its last attempt");
        assert_eq!((dead.status, dead.attempt), (JobStatus::Dead, 2));
        assert_eq!(pending(1).abandon(10 * SEC), None, "only processing jobs");
    }

    #[test]
    fn an_expired_lease_is_refused_even_before_anyone_steals_it() {
        let held = pending(3).claim(0, SEC).expect("claim");
        assert_eq!(held.complete(1, SEC), Err(LeaseError::Expired));
        assert_eq!(
            held.complete(1, SEC - 1),
            Ok(JobState { status: JobStatus::Completed, ..held })
        );
    }

    #[test]
    fn failures_retry_after_their_delay_then_die_and_retry_revives() {
        let held = pending(2).claim(0, 10 * SEC).expect("claim");
        let failed = held.fail(1, SEC, 5 * SEC).expect("fail");
        assert_eq!((failed.status, failed.run_after), (JobStatus::Failed, 6 * SEC));
        assert!(!failed.claimable(5 * SEC) && failed.claimable(6 * SEC));
        let again = failed.claim(6 * SEC, 10 * SEC).expect("claim again");
        let dead = again.fail(2, 7 * SEC, 5 * SEC).expect("last attempt");
        assert_eq!(dead.status, JobStatus::Dead);
        assert!(!dead.claimable(i64::MAX));
        let revived = dead.retry(8 * SEC).expect("retry");
        assert_eq!((revived.status, revived.attempt), (JobStatus::Pending, 0));
        assert!(revived.claimable(8 * SEC));
        assert!(pending(1).retry(0).is_none(), "only dead or failed jobs are retried");
    }

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_its_bounds() {
        let b = Backoff::default();
        assert_eq!(b.delay_micros(1, 0.0), 2_500_000);
        assert_eq!(b.delay_micros(1, 1.0), 5_000_000);
        assert_eq!(b.delay_micros(2, 0.0), 5_000_000);
        assert_eq!(b.delay_micros(3, 1.0), 20_000_000);
        assert_eq!(b.delay_micros(40, 1.0), 3_600_000_000, "capped");
        assert_eq!(b.delay_micros(u32::MAX, f64::NAN), 1_800_000_000);
    }

    #[test]
    fn tokens_are_bound_to_their_tenant_job_and_lease() {
        let tenant = crate::TenantId::parse("acme").expect("tenant");
        let other = crate::TenantId::parse("other").expect("tenant");
        let job = uuid::Uuid::now_v7();
        let token = LeaseToken::sign(b"secret", &tenant, job, 3);
        let parsed = LeaseToken::parse(&token.expose()).expect("parses");
        assert!(parsed.verify(b"secret", &tenant));
        assert!(!parsed.verify(b"secret", &other), "another tenant's");
        assert!(!parsed.verify(b"other secret", &tenant));
        let moved = LeaseToken { lease: 4, ..parsed.clone() };
        assert!(!moved.verify(b"secret", &tenant), "another lease");
        let elsewhere = LeaseToken { job_id: uuid::Uuid::now_v7(), ..parsed };
        assert!(!elsewhere.verify(b"secret", &tenant), "another job");
    }

    #[test]
    fn statuses_and_tokens_read_back() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Ok(status));
        }
        assert!(JobStatus::parse("done").is_err());
        let token = LeaseToken { job_id: uuid::Uuid::nil(), lease: 7, check: "ab12".into() };
        assert_eq!(LeaseToken::parse(&token.expose()), Some(token));
        for bad in [
            "",
            "x.1.ab",
            "00000000-0000-0000-0000-000000000000.-1.ab",
            "00000000-0000-0000-0000-000000000000.1.AB",
            "00000000-0000-0000-0000-000000000000.1.ab.cd",
            "00000000-0000-0000-0000-000000000000.1.",
        ] {
            assert_eq!(LeaseToken::parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// Whatever sequence of claims, heartbeats and settlements happens at whatever times,
        /// at most one completion is accepted, and only from the lease current at that moment.
        #[test]
        fn at_most_one_completion_and_only_by_the_current_lease(
            steps in prop::collection::vec((0u8..4, 0u64..6, 0i64..20), 1..60)
        ) {
            let mut job = pending(5);
            let mut completions = 0;
            for (op, lease, at) in steps {
                let now = at * SEC;
                match op {
                    0 => if let Some(next) = job.claim(now, 3 * SEC) { job = next },
                    1 => if let Ok(next) = job.heartbeat(lease, now, 3 * SEC) { job = next },
                    2 => if let Ok(next) = job.fail(lease, now, SEC) {
                        prop_assert_eq!(lease, job.lease);
                        job = next;
                    },
                    _ => if let Ok(next) = job.complete(lease, now) {
                        prop_assert_eq!(lease, job.lease);
                        completions += 1;
                        job = next;
                    },
                }
                prop_assert!(u64::from(job.attempt) <= job.lease, "every attempt had its own lease");
            }
            prop_assert!(completions <= 1);
        }

        #[test]
        fn backoff_stays_within_half_and_full_of_the_capped_delay(attempt in 1u32..80, unit in 0f64..1.0) {
            let b = Backoff::default();
            let d = b.delay_micros(attempt, unit);
            let full = (5.0 * 2f64.powi(attempt.min(63) as i32 - 1)).min(3600.0) * 1e6;
            prop_assert!(d as f64 >= full / 2.0 - 1.0 && d as f64 <= full + 1.0);
        }
    }
}
