//! Redaction of what GitHub (or the network) says before it is stored or logged: a JSON error
//! body becomes its `message`, whitespace is squashed, anything shaped like a GitHub token or a
//! Bearer credential becomes `[redacted]`, and the text is cut to [`MESSAGE_MAX_CHARS`].
//! Kept apart from the retry policy: the policy decides what to do, this decides what may be said.

use serde_json::Value;

/// GitHub messages and transport errors are cut to this many characters.
pub const MESSAGE_MAX_CHARS: usize = 300;

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

pub fn sanitize(text: &str) -> String {
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
        assert!(!sanitize("bearer gho_secret failed").contains("secret"));
    }

    proptest! {
        #[test]
        fn github_message_is_bounded(body in ".{0,600}") {
            prop_assert!(github_message(&body).chars().count() <= MESSAGE_MAX_CHARS);
        }
    }
}
