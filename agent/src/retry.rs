//! When to try the push again and how long to wait: pure functions, so the policy is tested
//! without sockets or clocks.
//!
//! Hundreds of nodes fire their timers in the same minute; after a control-plane outage they
//! must not all come back at the same instant, hence exponential backoff with jitter and a hard
//! cap on attempts (the next timer run is the real retry).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first, at least 1.
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

/// What one attempt produced, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Connection refused, DNS failure, TLS failure, timeout: the request may not have arrived.
    Network(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Might work on a later attempt.
    Transient,
    /// Will fail the same way until a human changes something (key, node registration, config).
    Permanent,
}

/// 2xx succeed; 408, 429 and 5xx are the server's way of saying "later"; every other status
/// (400/401/403/404/409/413/422, and 3xx because a redirected POST would lose its body) repeats
/// identically, so retrying only delays the alert.
pub fn verdict(attempt: &Attempt) -> Verdict {
    match attempt {
        Attempt::Network(_) => Verdict::Transient,
        Attempt::Status { code, .. } => match code {
            200..=299 => Verdict::Success,
            408 | 429 | 500..=599 => Verdict::Transient,
            _ => Verdict::Permanent,
        },
    }
}

/// Wait before attempt `failed + 1`, after `failed` failures (1-based).
///
/// "Equal jitter": the exponential step `min(max, base * 2^(failed-1))` is halved, and the other
/// half is drawn at random, so the wait is in `[step/2, step]`: it still grows, yet nodes spread
/// out. A server's `Retry-After` is honoured but capped at `max`, so a hostile or buggy value cannot
/// stall the agent past its systemd timeout.
pub fn backoff(policy: &RetryPolicy, failed: u32, retry_after: Option<Duration>, random: u64) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(policy.max);
    }
    let shift = failed.saturating_sub(1).min(32);
    let max_ms = policy.max.as_millis() as u64;
    let step = (policy.base.as_millis() as u64).saturating_mul(1u64 << shift).min(max_ms);
    let half = step / 2;
    let spread = step - half;
    Duration::from_millis(half + random % (spread + 1))
}

/// `Retry-After` in delta-seconds. The HTTP-date form is ignored (falls back to our own backoff):
/// it needs a date parser and Cloudflare sends seconds.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Cheap randomness for jitter only (splitmix64), seeded from the clock's nanoseconds and the pid
/// so two nodes, or two runs, start from different points. Not for anything secret.
pub struct Jitter(u64);

impl Jitter {
    pub fn from_entropy() -> Jitter {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        Jitter::seeded(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn seeded(seed: u64) -> Jitter {
        Jitter(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The result of the whole retry loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub last: Attempt,
    pub verdict: Verdict,
    pub attempts: u32,
}

/// Drives `send` until success, a permanent answer, or `max_attempts`. `sleep` is a parameter so
/// tests can record the waits instead of sleeping.
pub fn run(policy: &RetryPolicy, jitter: &mut Jitter, mut send: impl FnMut(u32) -> Attempt, mut sleep: impl FnMut(Duration)) -> Run {
    let max_attempts = policy.max_attempts.max(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = send(attempts);
        let v = verdict(&last);
        if v != Verdict::Transient || attempts >= max_attempts {
            return Run { last, verdict: v, attempts };
        }
        let retry_after = match &last {
            Attempt::Status { retry_after, .. } => *retry_after,
            Attempt::Network(_) => None,
        };
        sleep(backoff(policy, attempts, retry_after, jitter.next_u64()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { max_attempts: 4, base: Duration::from_millis(1000), max: Duration::from_millis(8000) };

    fn status(code: u16) -> Attempt {
        Attempt::Status { code, retry_after: None }
    }

    #[test]
    fn which_statuses_retry() {
        for (code, want) in [
            (200, Verdict::Success),
            (204, Verdict::Success),
            (301, Verdict::Permanent),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (403, Verdict::Permanent),
            (404, Verdict::Permanent),
            (409, Verdict::Permanent),
            (413, Verdict::Permanent),
            (422, Verdict::Permanent),
            (408, Verdict::Transient),
            (429, Verdict::Transient),
            (500, Verdict::Transient),
            (502, Verdict::Transient),
            (503, Verdict::Transient),
            (504, Verdict::Transient),
        ] {
            assert_eq!(verdict(&status(code)), want, "{code}");
        }
        assert_eq!(verdict(&Attempt::Network("refused".into())), Verdict::Transient);
    }

    #[test]
    fn backoff_grows_then_caps() {
        let lowest = |failed| backoff(&POLICY, failed, None, 0);
        let ms = |n| Duration::from_millis(n);
        assert_eq!([lowest(1), lowest(2), lowest(3), lowest(4), lowest(9)], [ms(500), ms(1000), ms(2000), ms(4000), ms(4000)]);
        let highest = |failed| backoff(&POLICY, failed, None, 500 * (1 << (failed - 1).min(3)));
        assert_eq!([highest(1), highest(2), highest(3), highest(4)], [ms(1000), ms(2000), ms(4000), ms(8000)]);
        // Absurd attempt numbers neither overflow nor pass the cap.
        assert_eq!(backoff(&POLICY, u32::MAX, None, u64::MAX), ms(4000) + ms(u64::MAX % 4001));
        assert!(backoff(&POLICY, u32::MAX, None, u64::MAX) <= POLICY.max);
    }

    #[test]
    fn jitter_stays_within_half_to_full_step() {
        let mut jitter = Jitter::seeded(42);
        for failed in 1..=6 {
            let step = (POLICY.base * (1 << (failed - 1))).min(POLICY.max);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..500 {
                let d = backoff(&POLICY, failed, None, jitter.next_u64());
                assert!(d >= step / 2 && d <= step, "failed={failed}: {d:?}");
                seen.insert(d);
            }
            assert!(seen.len() > 50, "jitter barely varies: {}", seen.len());
        }
    }

    #[test]
    fn retry_after_is_honoured_but_capped() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(backoff(&POLICY, 1, Some(ms(3000)), 0), ms(3000));
        assert_eq!(backoff(&POLICY, 1, Some(ms(3_600_000)), 0), POLICY.max);
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn tiny_base_still_works() {
        let p = RetryPolicy { max_attempts: 3, base: Duration::from_millis(1), max: Duration::from_millis(1) };
        for r in [0, 1, 2, u64::MAX] {
            let d = backoff(&p, 1, None, r);
            assert!(d <= Duration::from_millis(1), "{d:?}");
        }
    }

    #[test]
    fn seeds_differ_between_runs() {
        let a = Jitter::seeded(1).next_u64();
        let b = Jitter::seeded(2).next_u64();
        assert_ne!(a, b);
    }

    /// Feeds scripted attempts to `run` and returns (result, how many sent, the waits).
    fn drive(policy: RetryPolicy, script: &[Attempt]) -> (Run, Vec<Duration>) {
        let mut waits = Vec::new();
        let mut i = 0;
        let result = run(
            &policy,
            &mut Jitter::seeded(7),
            |n| {
                assert_eq!(n as usize, i + 1);
                let a = script[i.min(script.len() - 1)].clone();
                i += 1;
                a
            },
            |d| waits.push(d),
        );
        assert_eq!(result.attempts as usize, i);
        (result, waits)
    }

    #[test]
    fn success_first_time_never_sleeps() {
        let (r, waits) = drive(POLICY, &[status(200)]);
        assert_eq!((r.verdict, r.attempts), (Verdict::Success, 1));
        assert!(waits.is_empty());
    }

    #[test]
    fn permanent_answers_fail_fast() {
        for code in [400, 401, 403, 404] {
            let (r, waits) = drive(POLICY, &[status(code), status(200)]);
            assert_eq!((r.verdict, r.attempts), (Verdict::Permanent, 1), "{code}");
            assert_eq!(r.last, status(code));
            assert!(waits.is_empty());
        }
    }

    #[test]
    fn transient_then_success() {
        let (r, waits) = drive(POLICY, &[status(503), status(503), status(200)]);
        assert_eq!((r.verdict, r.attempts), (Verdict::Success, 3));
        assert_eq!(waits.len(), 2);
        assert!(waits[0] <= Duration::from_secs(1) && waits[1] <= Duration::from_secs(2));
    }

    #[test]
    fn attempts_are_bounded() {
        let (r, waits) = drive(POLICY, &[Attempt::Network("connection refused".into())]);
        assert_eq!((r.verdict, r.attempts), (Verdict::Transient, 4));
        assert_eq!(waits.len(), 3);
        let once = RetryPolicy { max_attempts: 1, ..POLICY };
        assert_eq!(drive(once, &[status(500)]).0.attempts, 1);
    }

    #[test]
    fn retry_after_from_429_is_used() {
        let limited = Attempt::Status { code: 429, retry_after: Some(Duration::from_secs(2)) };
        let (r, waits) = drive(POLICY, &[limited, status(200)]);
        assert_eq!(r.verdict, Verdict::Success);
        assert_eq!(waits, vec![Duration::from_secs(2)]);
    }
}
