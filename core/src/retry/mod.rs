//! The dispatch retry policy: what the queue consumer does after one `workflow_dispatch` attempt.
//!
//! The shell makes the request and describes what came back as a [`DispatchOutcome`]; this module
//! turns it into a [`DispatchError`] that knows whether it is retryable and where it came from
//! (GitHub answered, or the request never got an answer), as pingora-error does, and into a
//! [`Verdict`]: dispatched, retry after a delay, or fail. No clock: the caller passes `now`.
//!
//! Architecture invariants:
//! - Retry or fail depends only on the status (and, for 403, on GitHub's rate-limit headers and
//!   message), never on the attempt number. The budget is time: [`apply_deadline`] fails a job
//!   whose next retry would fall after `DISPATCH_DEADLINE_SECONDS` from its creation. The queue's
//!   `max_retries` and dead-letter queue are only a backstop.
//! - Every delay is at least 1 s and at most Cloudflare Queues' limit of 43 200 s (12 h).
//! - No text in an error or verdict carries anything shaped like a GitHub token.

pub mod redact;

use redact::sanitize;
pub use redact::{github_message, MESSAGE_MAX_CHARS};

/// The longest delay Cloudflare Queues accepts for `retry` and `send` (12 hours).
pub const QUEUE_MAX_DELAY_SECONDS: u32 = 43_200;

/// The least wait after a rate limit that came without a number from GitHub (capped by
/// `max_delay_seconds`, so a deployment that asks for shorter waits gets them).
pub const RATE_LIMIT_MIN_DELAY_SECONDS: u32 = 60;

/// How long to wait between dispatch attempts when GitHub does not say, and for how long to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff delay; attempt `n` waits `base * 2^(n-1)`.
    pub base_delay_seconds: u32,
    /// The cap on our own backoff. GitHub's `retry-after` / rate-limit reset is honoured beyond
    /// it, up to [`QUEUE_MAX_DELAY_SECONDS`].
    pub max_delay_seconds: u32,
    /// A job is retried until this long after its creation (`DISPATCH_DEADLINE_SECONDS`).
    pub deadline_seconds: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_delay_seconds: 30, max_delay_seconds: 600, deadline_seconds: 21_600 }
    }
}

/// The response headers that steer a retry, as raw header values (absent = `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `retry-after`: whole seconds. An HTTP-date or anything else unparsable counts as absent
    /// for the delay (it still marks a 403 as rate-limited).
    pub retry_after: Option<String>,
    /// `x-ratelimit-remaining`: `"0"` means the primary rate limit is used up.
    pub ratelimit_remaining: Option<String>,
    /// `x-ratelimit-reset`: epoch seconds when the primary limit resets.
    pub ratelimit_reset: Option<String>,
}

impl RateLimitHeaders {
    /// Reads the three headers through `get(lowercase_name)`, e.g. the Worker's `Headers::get`.
    pub fn from_lookup(mut get: impl FnMut(&str) -> Option<String>) -> Self {
        RateLimitHeaders { retry_after: get("retry-after"), ratelimit_remaining: get("x-ratelimit-remaining"), ratelimit_reset: get("x-ratelimit-reset") }
    }

    /// GitHub's signs of a rate limit: no requests remaining, or a `retry-after` header.
    pub fn is_rate_limited(&self) -> bool {
        self.remaining_is_zero() || self.retry_after.as_deref().is_some_and(|v| !v.trim().is_empty())
    }

    fn remaining_is_zero(&self) -> bool {
        self.ratelimit_remaining.as_deref().map(str::trim) == Some("0")
    }

    /// `retry-after` in whole seconds; a digit string too long for u64 saturates.
    fn retry_after_seconds(&self) -> Option<u64> {
        let v = self.retry_after.as_deref()?.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(v.parse().unwrap_or(u64::MAX))
    }

    /// Seconds until the primary limit resets, when it is used up and the reset is readable.
    fn seconds_until_reset(&self, now_epoch_s: i64) -> Option<i64> {
        if !self.remaining_is_zero() {
            return None;
        }
        let reset: i64 = self.ratelimit_reset.as_deref()?.trim().parse().ok()?;
        Some(reset.saturating_sub(now_epoch_s))
    }
}

/// Why a dispatch request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Network,
    Timeout,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Network => "network error",
            TransportKind::Timeout => "timeout",
        })
    }
}

/// What one dispatch attempt produced, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// GitHub (or something in between) answered. `message` is [`github_message`] of the body.
    Response { status: u16, headers: RateLimitHeaders, message: String },
    /// No answer: the fetch failed or timed out.
    Transport { kind: TransportKind, message: String },
}

impl DispatchOutcome {
    /// An HTTP answer; the body is reduced with [`github_message`].
    pub fn response(status: u16, headers: RateLimitHeaders, body: &str) -> Self {
        DispatchOutcome::Response { status, headers, message: github_message(body) }
    }

    /// No HTTP answer; the error text is squashed, redacted and truncated like a body.
    pub fn transport(kind: TransportKind, error: &str) -> Self {
        DispatchOutcome::Transport { kind, message: sanitize(error) }
    }

    /// The error this outcome stands for, `None` when the workflow was dispatched (any 2xx).
    pub fn error(&self) -> Option<DispatchError> {
        match self {
            DispatchOutcome::Response { status, .. } if (200..300).contains(status) => None,
            DispatchOutcome::Response { status, headers, message } => {
                let retryable = match status {
                    429 | 500..=599 => true,
                    403 => is_rate_limit_403(headers, message),
                    _ => false,
                };
                Some(DispatchError::Upstream { status: *status, message: message.clone(), retryable })
            }
            DispatchOutcome::Transport { kind, message } => Some(DispatchError::Transport { kind: *kind, message: message.clone() }),
        }
    }
}

/// A 403 is a rate limit when GitHub's headers say so or its message does (secondary rate
/// limits come without the headers: "You have exceeded a secondary rate limit").
fn is_rate_limit_403(headers: &RateLimitHeaders, message: &str) -> bool {
    headers.is_rate_limited() || message.to_ascii_lowercase().contains("rate limit")
}

/// A failed dispatch attempt. Its `Display` is the reason stored in the job's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// `github 422: Unexpected inputs provided: ["x"]`.
    #[error("github {status}{}", with_colon(.message))]
    Upstream { status: u16, message: String, retryable: bool },
    /// `timeout: ...` or `network error: ...`; always retryable.
    #[error("{kind}{}", with_colon(.message))]
    Transport { kind: TransportKind, message: String },
}

impl DispatchError {
    pub fn retryable(&self) -> bool {
        match self {
            DispatchError::Upstream { retryable, .. } => *retryable,
            DispatchError::Transport { .. } => true,
        }
    }
}

fn with_colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// What the consumer does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Mark the job `dispatched` and ack.
    Dispatched,
    /// Count the attempt, `retry` the message after `delay_seconds`.
    Retry { delay_seconds: u32, reason: String },
    /// Mark the job `failed` with `reason` and ack.
    Fail { reason: String },
}

/// Decides what follows dispatch attempt number `attempt` (1-based, the one that just ended).
///
/// The delay, for a retryable outcome, is the first that applies:
/// 1. `retry-after` in whole seconds (any status);
/// 2. for 429 or a rate-limited 403 with `x-ratelimit-remaining: 0`, the seconds until
///    `x-ratelimit-reset` (at least 1);
/// 3. for a rate limit (429 or a rate-limited 403), at least [`RATE_LIMIT_MIN_DELAY_SECONDS`]
///    (capped at `policy.max_delay_seconds`);
/// 4. exponential backoff `base * 2^(attempt-1)`, capped at `policy.max_delay_seconds`.
///
/// GitHub's own numbers (1 and 2) are honoured beyond `max_delay_seconds`, because retrying a
/// rate limit early only burns attempts; every delay stays within [1, 43 200]. No jitter: the
/// same inputs give the same delay (dispatches are few, and the queue spreads them anyway).
/// The deadline is applied separately by [`apply_deadline`].
pub fn classify(outcome: &DispatchOutcome, attempt: u32, now_epoch_s: i64, policy: &RetryPolicy) -> Verdict {
    let Some(error) = outcome.error() else {
        return Verdict::Dispatched;
    };
    if !error.retryable() {
        return Verdict::Fail { reason: error.to_string() };
    }
    Verdict::Retry { delay_seconds: retry_delay(outcome, attempt, now_epoch_s, policy), reason: error.to_string() }
}

fn retry_delay(outcome: &DispatchOutcome, attempt: u32, now_epoch_s: i64, policy: &RetryPolicy) -> u32 {
    let queue_limit = u64::from(QUEUE_MAX_DELAY_SECONDS);
    if let DispatchOutcome::Response { status, headers, .. } = outcome {
        if let Some(seconds) = headers.retry_after_seconds() {
            return seconds.clamp(1, queue_limit) as u32;
        }
        if matches!(status, 403 | 429) {
            if let Some(seconds) = headers.seconds_until_reset(now_epoch_s) {
                return seconds.clamp(1, i64::from(QUEUE_MAX_DELAY_SECONDS)) as u32;
            }
            let floor = RATE_LIMIT_MIN_DELAY_SECONDS.min(policy.max_delay_seconds.max(1));
            return backoff(attempt, policy).max(floor);
        }
    }
    backoff(attempt, policy)
}

/// `base * 2^(attempt-1)` within [1, max_delay].
pub fn backoff(attempt: u32, policy: &RetryPolicy) -> u32 {
    let queue_limit = u64::from(QUEUE_MAX_DELAY_SECONDS);
    let exponent = attempt.max(1) - 1;
    let factor = 1u64.checked_shl(exponent).unwrap_or(u64::MAX);
    let backoff = u64::from(policy.base_delay_seconds).saturating_mul(factor);
    let cap = u64::from(policy.max_delay_seconds).clamp(1, queue_limit);
    backoff.clamp(1, cap) as u32
}

/// The dispatch deadline on a verdict: a retry that would come after `created_at_ms +
/// deadline_seconds` becomes a failure whose reason starts `not dispatched within`.
pub fn apply_deadline(verdict: Verdict, created_at_ms: i64, now_ms: i64, policy: &RetryPolicy) -> Verdict {
    match verdict {
        Verdict::Retry { delay_seconds, reason } => {
            let deadline = crate::job::dispatch_deadline_ms(created_at_ms, policy.deadline_seconds);
            if now_ms.saturating_add(i64::from(delay_seconds) * 1000) > deadline {
                Verdict::Fail { reason: crate::job::deadline_error(policy.deadline_seconds, Some(&reason)) }
            } else {
                Verdict::Retry { delay_seconds, reason }
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_341_600;

    fn headers(pairs: &[(&str, &str)]) -> RateLimitHeaders {
        RateLimitHeaders::from_lookup(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    fn check(status: u16, pairs: &[(&str, &str)], attempt: u32) -> Verdict {
        let body = r#"{"message":"the message","documentation_url":"https://docs.github.com"}"#;
        classify(&DispatchOutcome::response(status, headers(pairs), body), attempt, NOW, &small())
    }

    /// The table's policy: a 2 s base and a 300 s cap, so the doubling shows in small numbers.
    fn small() -> RetryPolicy {
        RetryPolicy { base_delay_seconds: 2, max_delay_seconds: 300, deadline_seconds: 21_600 }
    }

    fn retry(delay_seconds: u32, status: u16) -> Verdict {
        Verdict::Retry { delay_seconds, reason: format!("github {status}: the message") }
    }

    fn fail(status: u16) -> Verdict {
        Verdict::Fail { reason: format!("github {status}: the message") }
    }

    #[test]
    fn verdicts_by_status_headers_and_attempt() {
        let reset_in_30 = (NOW + 30).to_string();
        let reset_past = (NOW - 100).to_string();
        type Case<'a> = (u16, Vec<(&'a str, &'a str)>, u32, Verdict);
        let cases: Vec<Case> = vec![
            (204, vec![], 1, Verdict::Dispatched),
            (200, vec![], 3, Verdict::Dispatched),
            (201, vec![], 1, Verdict::Dispatched),
            (500, vec![], 1, retry(2, 500)),
            (500, vec![], 2, retry(4, 500)),
            (500, vec![], 3, retry(8, 500)),
            (500, vec![], 4, retry(16, 500)),
            (500, vec![], 5, retry(32, 500)),
            (500, vec![], 9, retry(300, 500)),   // 512 capped at max_delay
            (500, vec![], 200, retry(300, 500)), // no overflow
            (500, vec![], 0, retry(2, 500)),     // attempt 0 read as the first
            (502, vec![], 1, retry(2, 502)),
            (503, vec![], 2, retry(4, 503)),
            (503, vec![("retry-after", "12")], 1, retry(12, 503)),
            (429, vec![("retry-after", "7")], 1, retry(7, 429)),
            (429, vec![("retry-after", " 7 ")], 4, retry(7, 429)),
            // A rate limit without a number from GitHub waits at least 60 s.
            (429, vec![], 3, retry(60, 429)),
            (429, vec![], 7, retry(128, 429)),
            (429, vec![("retry-after", "garbage")], 2, retry(60, 429)),
            (429, vec![("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")], 1, retry(60, 429)),
            (429, vec![("retry-after", "0")], 1, retry(1, 429)),
            (429, vec![("retry-after", "3600")], 1, retry(3600, 429)), // honoured beyond max_delay
            (429, vec![("retry-after", "99999999")], 1, retry(43_200, 429)),
            (429, vec![("retry-after", "99999999999999999999999")], 1, retry(43_200, 429)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(30, 403)),
            (429, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 5, retry(30, 429)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_past)], 1, retry(1, 403)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "soon")], 2, retry(60, 403)),
            (403, vec![("x-ratelimit-remaining", "0")], 1, retry(60, 403)),
            (403, vec![("retry-after", "60")], 1, retry(60, 403)),
            (403, vec![("retry-after", "later")], 3, retry(60, 403)), // present, unparsable: the floor
            // retry-after wins over the reset.
            (403, vec![("retry-after", "5"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(5, 403)),
            // Remaining requests: the reset is no reason to wait, and no rate limit at all for 403.
            (429, vec![("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(60, 429)),
            (403, vec![("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", &reset_in_30)], 1, fail(403)),
            (403, vec![], 1, fail(403)),
            (401, vec![], 1, fail(401)),
            (404, vec![], 2, fail(404)),
            (422, vec![], 1, fail(422)),
            (400, vec![], 1, fail(400)),
            (408, vec![], 1, fail(408)),
            (422, vec![("retry-after", "7")], 1, fail(422)),
            (302, vec![], 1, fail(302)),
        ];
        for (status, pairs, attempt, expected) in cases {
            assert_eq!(check(status, &pairs, attempt), expected, "{status} {pairs:?} attempt {attempt}");
        }
    }

    #[test]
    fn a_smaller_policy_caps_the_backoff() {
        let policy = RetryPolicy { base_delay_seconds: 10, max_delay_seconds: 25, deadline_seconds: 3600 };
        let outcome = DispatchOutcome::response(500, RateLimitHeaders::default(), "");
        let delays: Vec<_> = (1..=4)
            .map(|a| match classify(&outcome, a, NOW, &policy) {
                Verdict::Retry { delay_seconds, .. } => delay_seconds,
                v => panic!("{v:?}"),
            })
            .collect();
        assert_eq!(delays, [10, 20, 25, 25]);
        let zero = RetryPolicy { base_delay_seconds: 0, max_delay_seconds: 0, deadline_seconds: 1 };
        assert!(matches!(classify(&outcome, 1, NOW, &zero), Verdict::Retry { delay_seconds: 1, .. }));
    }

    #[test]
    fn retries_are_never_turned_into_failures_by_the_attempt_count() {
        let policy = RetryPolicy::default();
        let outcome = DispatchOutcome::response(503, RateLimitHeaders::default(), "");
        for attempt in [5, 6, 1000] {
            assert!(matches!(classify(&outcome, attempt, NOW, &policy), Verdict::Retry { .. }));
        }
    }

    #[test]
    fn the_default_schedule_doubles_from_30_s_to_600_s() {
        let policy = RetryPolicy::default();
        let delays: Vec<u32> = (1..=8).map(|a| backoff(a, &policy)).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!((policy.deadline_seconds, RATE_LIMIT_MIN_DELAY_SECONDS), (21_600, 60));
    }

    #[test]
    fn secondary_rate_limits_are_retried() {
        let policy = RetryPolicy::default();
        for message in ["You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "API RATE LIMIT exceeded"] {
            let outcome = DispatchOutcome::response(403, RateLimitHeaders::default(), &format!(r#"{{"message":"{message}"}}"#));
            assert!(matches!(classify(&outcome, 1, NOW, &policy), Verdict::Retry { delay_seconds: 60, .. }), "{message}");
        }
        // A short max (tests) caps the floor too.
        let fast = RetryPolicy { base_delay_seconds: 1, max_delay_seconds: 1, deadline_seconds: 60 };
        let outcome = DispatchOutcome::response(403, RateLimitHeaders::default(), r#"{"message":"secondary rate limit"}"#);
        assert!(matches!(classify(&outcome, 1, NOW, &fast), Verdict::Retry { delay_seconds: 1, .. }));
        let forbidden = DispatchOutcome::response(403, RateLimitHeaders::default(), r#"{"message":"Resource not accessible by integration"}"#);
        assert!(matches!(classify(&forbidden, 1, NOW, &policy), Verdict::Fail { .. }));
    }

    #[test]
    fn the_deadline_turns_a_late_retry_into_a_failure() {
        let policy = RetryPolicy { base_delay_seconds: 30, max_delay_seconds: 600, deadline_seconds: 3600 };
        let retry = |delay_seconds| Verdict::Retry { delay_seconds, reason: "github 500".into() };
        let created = 1_000_000;
        type Case = (i64, u32, Verdict);
        let cases: Vec<Case> = vec![
            (created, 30, retry(30)),
            (created + 3_570_000, 30, retry(30)), // lands exactly on the deadline
            (created + 3_570_001, 30, Verdict::Fail { reason: "not dispatched within 3600 s: github 500".into() }),
            (created + 4_000_000, 1, Verdict::Fail { reason: "not dispatched within 3600 s: github 500".into() }),
        ];
        for (now, delay, want) in cases {
            assert_eq!(apply_deadline(retry(delay), created, now, &policy), want, "now {now} delay {delay}");
        }
        assert_eq!(apply_deadline(Verdict::Dispatched, created, created + 9_999_999, &policy), Verdict::Dispatched);
        let fail = Verdict::Fail { reason: "github 422".into() };
        assert_eq!(apply_deadline(fail.clone(), created, created, &policy), fail);
    }

    #[test]
    fn transport_errors_are_retried_with_backoff() {
        let policy = small();
        let timeout = DispatchOutcome::transport(TransportKind::Timeout, "no answer in 10 s");
        assert_eq!(classify(&timeout, 2, NOW, &policy), Verdict::Retry { delay_seconds: 4, reason: "timeout: no answer in 10 s".into() });
        let network = DispatchOutcome::transport(TransportKind::Network, "connection\nrefused");
        assert_eq!(classify(&network, 1, NOW, &policy), Verdict::Retry { delay_seconds: 2, reason: "network error: connection refused".into() });
        let e = network.error().unwrap();
        assert!(e.retryable());
        assert!(matches!(e, DispatchError::Transport { .. }), "{e:?}");
    }

    #[test]
    fn errors_say_whether_they_are_retryable_and_where_they_came_from() {
        let e = DispatchOutcome::response(422, RateLimitHeaders::default(), r#"{"message":"Unexpected inputs provided: [\"x\"]"}"#).error().unwrap();
        assert_eq!(e.to_string(), r#"github 422: Unexpected inputs provided: ["x"]"#);
        assert!(!e.retryable() && matches!(e, DispatchError::Upstream { .. }), "{e:?}");
        let e = DispatchOutcome::response(502, RateLimitHeaders::default(), "").error().unwrap();
        assert_eq!(e.to_string(), "github 502");
        assert!(e.retryable());
        assert_eq!(DispatchOutcome::response(204, RateLimitHeaders::default(), "").error(), None);
    }

    impl Verdict {
        fn kind(&self) -> &'static str {
            match self {
                Verdict::Dispatched => "dispatched",
                Verdict::Retry { .. } => "retry",
                Verdict::Fail { .. } => "fail",
            }
        }
    }

    fn header_value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("0".to_string())),
            Just(Some("garbage".to_string())),
            Just(Some(String::new())),
            (0u64..100_000).prop_map(|n| Some(n.to_string())),
            (1_795_000_000i64..1_796_000_000).prop_map(|n| Some(n.to_string())),
        ]
    }

    fn any_headers() -> impl Strategy<Value = RateLimitHeaders> {
        (header_value(), header_value(), header_value()).prop_map(|(retry_after, ratelimit_remaining, ratelimit_reset)| RateLimitHeaders {
            retry_after,
            ratelimit_remaining,
            ratelimit_reset,
        })
    }

    fn any_policy() -> impl Strategy<Value = RetryPolicy> {
        (0u32..10_000, 0u32..100_000, 0u32..100_000).prop_map(|(base_delay_seconds, max_delay_seconds, deadline_seconds)| RetryPolicy {
            base_delay_seconds,
            max_delay_seconds,
            deadline_seconds,
        })
    }

    /// The rule, restated independently of the implementation.
    fn expected_kind(status: u16, headers: &RateLimitHeaders) -> &'static str {
        let rate_limited = headers.ratelimit_remaining.as_deref() == Some("0") || headers.retry_after.as_deref().is_some_and(|v| !v.is_empty());
        match status {
            200..=299 => "dispatched",
            429 | 500..=599 => "retry",
            403 if rate_limited => "retry",
            _ => "fail",
        }
    }

    proptest! {
        #[test]
        fn verdict_kind_depends_on_the_status_class_only(
            status in 100u16..600,
            headers in any_headers(),
            a1 in 0u32..100, a2 in 0u32..100,
            now1 in 1_795_000_000i64..1_796_000_000, now2 in 0i64..2_000_000_000,
            p1 in any_policy(), p2 in any_policy(),
        ) {
            let outcome = DispatchOutcome::Response { status, headers: headers.clone(), message: "m".into() };
            let v1 = classify(&outcome, a1, now1, &p1);
            let v2 = classify(&outcome, a2, now2, &p2);
            prop_assert_eq!(v1.kind(), expected_kind(status, &headers));
            prop_assert_eq!(v1.kind(), v2.kind());
        }

        #[test]
        fn every_delay_is_within_bounds(
            status in prop_oneof![Just(403u16), Just(429), 500u16..600],
            headers in any_headers(),
            attempt in 0u32..200,
            now in 1_795_000_000i64..1_796_000_000,
            policy in any_policy(),
        ) {
            let outcome = DispatchOutcome::Response { status, headers: headers.clone(), message: String::new() };
            if let Verdict::Retry { delay_seconds, .. } = classify(&outcome, attempt, now, &policy) {
                prop_assert!((1..=QUEUE_MAX_DELAY_SECONDS).contains(&delay_seconds));
                // Without a number from GitHub, our own backoff never exceeds max_delay.
                let without_hints = RateLimitHeaders { retry_after: None, ratelimit_reset: None, ..headers };
                let outcome = DispatchOutcome::Response { status, headers: without_hints, message: String::new() };
                if let Verdict::Retry { delay_seconds, .. } = classify(&outcome, attempt, now, &policy) {
                    prop_assert!(delay_seconds >= 1 && delay_seconds <= policy.max_delay_seconds.max(1));
                }
            }
        }

        #[test]
        fn transport_errors_always_retry_within_max_delay(attempt in 0u32..200, policy in any_policy()) {
            let outcome = DispatchOutcome::transport(TransportKind::Timeout, "t");
            match classify(&outcome, attempt, NOW, &policy) {
                Verdict::Retry { delay_seconds, .. } => {
                    prop_assert!(delay_seconds >= 1 && delay_seconds <= policy.max_delay_seconds.clamp(1, QUEUE_MAX_DELAY_SECONDS));
                }
                v => prop_assert!(false, "{:?}", v),
            }
        }

    }
}
