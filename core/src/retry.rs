//! The dispatch retry policy: what the queue consumer does after one `workflow_dispatch` attempt.
//!
//! The shell makes the request and describes what came back as a [`DispatchOutcome`]; this module
//! turns it into a [`DispatchError`] that knows whether it is retryable and where it came from
//! (GitHub answered, or the request never got an answer), as pingora-error does, and into a
//! [`Verdict`]: dispatched, retry after a delay, or fail. No clock: the caller passes `now`.
//!
//! Architecture invariants:
//! - Retry or fail depends only on the status (and, for 403, on GitHub's rate-limit headers),
//!   never on the attempt number: giving up is the queue's job. A message whose retries run out
//!   goes to the dead-letter queue, whose consumer marks the job failed (SPEC, queue consumer
//!   step 4), so [`classify`] never turns a retryable outcome into [`Verdict::Fail`].
//! - Every delay is at least 1 s and at most Cloudflare Queues' limit of 43 200 s (12 h).
//! - No text in an error or verdict carries anything shaped like a GitHub token.

use serde_json::Value;

/// The longest delay Cloudflare Queues accepts for `retry` (12 hours).
pub const QUEUE_MAX_DELAY_SECONDS: u32 = 43_200;

/// GitHub messages and transport errors are cut to this many characters.
pub const MESSAGE_MAX_CHARS: usize = 300;

/// How long to wait between dispatch attempts when GitHub does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff delay; attempt `n` waits `base * 2^(n-1)`.
    pub base_delay_seconds: u32,
    /// The cap on our own backoff. GitHub's `retry-after` / rate-limit reset is honoured beyond
    /// it, up to [`QUEUE_MAX_DELAY_SECONDS`].
    pub max_delay_seconds: u32,
    /// Information only: it should equal the consumer's `max_retries + 1` in the wrangler config,
    /// which is what actually moves a message to the dead-letter queue. `classify` ignores it.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_delay_seconds: 2, max_delay_seconds: 300, max_attempts: 5 }
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
                    403 => headers.is_rate_limited(),
                    _ => false,
                };
                Some(DispatchError::Upstream { status: *status, message: message.clone(), retryable })
            }
            DispatchOutcome::Transport { kind, message } => Some(DispatchError::Transport { kind: *kind, message: message.clone() }),
        }
    }
}

/// Where a dispatch error came from, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// GitHub (or a proxy in front of it) answered with a non-2xx status.
    Upstream,
    /// The request got no answer.
    Transport,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Upstream => "upstream",
            Origin::Transport => "transport",
        }
    }
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

    pub fn origin(&self) -> Origin {
        match self {
            DispatchError::Upstream { .. } => Origin::Upstream,
            DispatchError::Transport { .. } => Origin::Transport,
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
/// 3. exponential backoff `base * 2^(attempt-1)`, capped at `policy.max_delay_seconds`.
///
/// GitHub's own numbers (1 and 2) are honoured beyond `max_delay_seconds`, because retrying a
/// rate limit early only burns attempts; every delay stays within [1, 43 200]. No jitter: the
/// same inputs give the same delay (dispatches are few, and the queue spreads them anyway).
/// `policy.max_attempts` is not consulted (see the module doc).
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
        }
    }
    let exponent = attempt.max(1) - 1;
    let factor = 1u64.checked_shl(exponent).unwrap_or(u64::MAX);
    let backoff = u64::from(policy.base_delay_seconds).saturating_mul(factor);
    let cap = u64::from(policy.max_delay_seconds).clamp(1, queue_limit);
    backoff.clamp(1, cap) as u32
}

/// The `message` of a GitHub JSON error body, else the body as plain text; whitespace squashed,
/// anything shaped like a GitHub token or a Bearer credential replaced by `[redacted]`, and cut
/// to at most [`MESSAGE_MAX_CHARS`] characters.
pub fn github_message(body: &str) -> String {
    let message = match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("message") {
            Some(Value::String(m)) => m.clone(),
            _ => body.to_string(),
        },
        _ => body.to_string(),
    };
    sanitize(&message)
}

const TOKEN_PREFIXES: [&str; 6] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"];

fn sanitize(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut after_bearer = false;
    for word in text.split_whitespace() {
        out.push(if after_bearer { "[redacted]".to_string() } else { redact_tokens(word) });
        after_bearer = word.trim_matches(|c: char| !c.is_ascii_alphanumeric()).eq_ignore_ascii_case("bearer");
    }
    truncate(&out.join(" "), MESSAGE_MAX_CHARS)
}

/// Replaces every run of `[A-Za-z0-9_]` that starts with a GitHub token prefix.
fn redact_tokens(word: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(c) = rest.chars().next() {
        let end = if is_token_char(c) { rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len()) } else { c.len_utf8() };
        let run = &rest[..end];
        if TOKEN_PREFIXES.iter().any(|p| run.len() > p.len() && run.starts_with(p)) {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        rest = &rest[end..];
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars - 1).collect();
    cut.push('…');
    cut
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
        classify(&DispatchOutcome::response(status, headers(pairs), body), attempt, NOW, &RetryPolicy::default())
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
            (429, vec![], 3, retry(8, 429)),
            (429, vec![("retry-after", "garbage")], 2, retry(4, 429)),
            (429, vec![("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")], 1, retry(2, 429)),
            (429, vec![("retry-after", "0")], 1, retry(1, 429)),
            (429, vec![("retry-after", "3600")], 1, retry(3600, 429)), // honoured beyond max_delay
            (429, vec![("retry-after", "99999999")], 1, retry(43_200, 429)),
            (429, vec![("retry-after", "99999999999999999999999")], 1, retry(43_200, 429)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(30, 403)),
            (429, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 5, retry(30, 429)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_past)], 1, retry(1, 403)),
            (403, vec![("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "soon")], 2, retry(4, 403)),
            (403, vec![("x-ratelimit-remaining", "0")], 1, retry(2, 403)),
            (403, vec![("retry-after", "60")], 1, retry(60, 403)),
            (403, vec![("retry-after", "later")], 3, retry(8, 403)), // present, unparsable: backoff
            // retry-after wins over the reset.
            (403, vec![("retry-after", "5"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(5, 403)),
            // Remaining requests: the reset is no reason to wait, and no rate limit at all for 403.
            (429, vec![("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", &reset_in_30)], 1, retry(2, 429)),
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
        let policy = RetryPolicy { base_delay_seconds: 10, max_delay_seconds: 25, max_attempts: 3 };
        let outcome = DispatchOutcome::response(500, RateLimitHeaders::default(), "");
        let delays: Vec<_> = (1..=4)
            .map(|a| match classify(&outcome, a, NOW, &policy) {
                Verdict::Retry { delay_seconds, .. } => delay_seconds,
                v => panic!("{v:?}"),
            })
            .collect();
        assert_eq!(delays, [10, 20, 25, 25]);
        let zero = RetryPolicy { base_delay_seconds: 0, max_delay_seconds: 0, max_attempts: 1 };
        assert!(matches!(classify(&outcome, 1, NOW, &zero), Verdict::Retry { delay_seconds: 1, .. }));
    }

    #[test]
    fn retries_are_never_turned_into_failures_by_the_attempt_count() {
        let policy = RetryPolicy::default();
        let outcome = DispatchOutcome::response(503, RateLimitHeaders::default(), "");
        for attempt in [policy.max_attempts, policy.max_attempts + 1, 1000] {
            assert!(matches!(classify(&outcome, attempt, NOW, &policy), Verdict::Retry { .. }));
        }
    }

    #[test]
    fn transport_errors_are_retried_with_backoff() {
        let policy = RetryPolicy::default();
        let timeout = DispatchOutcome::transport(TransportKind::Timeout, "no answer in 10 s");
        assert_eq!(classify(&timeout, 2, NOW, &policy), Verdict::Retry { delay_seconds: 4, reason: "timeout: no answer in 10 s".into() });
        let network = DispatchOutcome::transport(TransportKind::Network, "connection\nrefused");
        assert_eq!(classify(&network, 1, NOW, &policy), Verdict::Retry { delay_seconds: 2, reason: "network error: connection refused".into() });
        let e = network.error().unwrap();
        assert!(e.retryable());
        assert_eq!(e.origin().as_str(), "transport");
    }

    #[test]
    fn errors_say_whether_they_are_retryable_and_where_they_came_from() {
        let e = DispatchOutcome::response(422, RateLimitHeaders::default(), r#"{"message":"Unexpected inputs provided: [\"x\"]"}"#).error().unwrap();
        assert_eq!(e.to_string(), r#"github 422: Unexpected inputs provided: ["x"]"#);
        assert_eq!((e.retryable(), e.origin()), (false, Origin::Upstream));
        let e = DispatchOutcome::response(502, RateLimitHeaders::default(), "").error().unwrap();
        assert_eq!(e.to_string(), "github 502");
        assert!(e.retryable());
        assert_eq!(DispatchOutcome::response(204, RateLimitHeaders::default(), "").error(), None);
    }

    #[test]
    fn github_message_prefers_the_json_message() {
        let cases = [
            (r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#, "Bad credentials"),
            (r#"{"message":"Not Found"}"#, "Not Found"),
            (r#"{"error":"x"}"#, r#"{"error":"x"}"#),
            (r#"{"message":42}"#, r#"{"message":42}"#),
            ("<html>\n  <body>Bad gateway</body>\n</html>", "<html> <body>Bad gateway</body> </html>"),
            ("", ""),
            ("upstream connect error", "upstream connect error"),
        ];
        for (body, expected) in cases {
            assert_eq!(github_message(body), expected, "{body}");
        }
    }

    #[test]
    fn github_message_is_truncated_to_300_chars() {
        let long = "é".repeat(1000);
        let m = github_message(&long);
        assert_eq!(m.chars().count(), MESSAGE_MAX_CHARS);
        assert!(m.ends_with('…'));
        let json = format!(r#"{{"message":"{}"}}"#, "x".repeat(400));
        assert_eq!(github_message(&json).chars().count(), MESSAGE_MAX_CHARS);
        assert_eq!(github_message(&"y".repeat(300)), "y".repeat(300));
    }

    #[test]
    fn github_message_never_carries_a_token() {
        let cases = [
            ("token ghp_abcDEF123456 is bad", "token [redacted] is bad"),
            ("(github_pat_11AAAA_bbbb)", "([redacted])"),
            (r#"{"message":"saw ghs_x1y2z3 in header"}"#, "saw [redacted] in header"),
            ("Authorization: Bearer s3cr3t.with-dots", "Authorization: Bearer [redacted]"),
            ("the ghp_ prefix alone", "the ghp_ prefix alone"),
        ];
        for (body, expected) in cases {
            assert_eq!(github_message(body), expected, "{body}");
        }
        let outcome = DispatchOutcome::transport(TransportKind::Network, "bearer gho_secret failed");
        assert!(!classify(&outcome, 1, NOW, &RetryPolicy::default()).reason().contains("secret"));
    }

    impl Verdict {
        fn reason(&self) -> &str {
            match self {
                Verdict::Dispatched => "",
                Verdict::Retry { reason, .. } | Verdict::Fail { reason } => reason,
            }
        }

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
        (0u32..10_000, 0u32..100_000, 0u32..20).prop_map(|(base_delay_seconds, max_delay_seconds, max_attempts)| RetryPolicy {
            base_delay_seconds,
            max_delay_seconds,
            max_attempts,
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

        #[test]
        fn github_message_is_bounded(body in ".{0,600}") {
            prop_assert!(github_message(&body).chars().count() <= MESSAGE_MAX_CHARS);
        }
    }
}
