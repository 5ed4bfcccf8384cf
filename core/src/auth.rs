//! Bearer authentication for `/internal/*`, decided without I/O.
//!
//! Fails closed: no configured key means every call is refused, and the development bypass is
//! honoured only when the environment says `development`.

use crate::domain::Environment;
use crate::error::ApiError;

/// What the shell should do with a request to `/internal/*`.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The token matched.
    Allowed,
    /// `SKIP_INTERNAL_API_AUTH` in development: let it through.
    Skipped,
}

/// Whether the bypass is requested; a production deployment that sets it gets a warning logged
/// by the shell and the bypass ignored.
pub fn skip_requested(raw: Option<&str>) -> bool {
    matches!(raw.map(|s| s.trim().to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes"))
}

/// Decides a request. `key` is the configured `INTERNAL_API_KEY` (None or empty: misconfigured,
/// which refuses everything with 500 rather than letting anything through).
pub fn authorize(authorization: Option<&str>, key: Option<&str>, environment: Environment, skip: bool) -> Result<AuthOutcome, ApiError> {
    if skip && environment == Environment::Development {
        return Ok(AuthOutcome::Skipped);
    }
    let key = match key {
        Some(k) if !k.is_empty() => k,
        _ => return Err(ApiError::Misconfigured { setting: "INTERNAL_API_KEY" }),
    };
    match authorization.and_then(bearer_token) {
        Some(token) if constant_time_eq(token.as_bytes(), key.as_bytes()) => Ok(AuthOutcome::Allowed),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares without an early exit on the first differing byte, so the time taken says nothing
/// about how much of a guessed token was right. (The length is not secret.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use Environment::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_exact() {
        let ok = |h| authorize(Some(h), Some("s3cret"), Production, false);
        assert_eq!(ok("Bearer s3cret"), Ok(AuthOutcome::Allowed));
        assert_eq!(ok("bearer s3cret"), Ok(AuthOutcome::Allowed));
        assert_eq!(ok("BEARER  s3cret"), Ok(AuthOutcome::Allowed));
        for bad in ["", "Bearer", "Bearer ", "Basic s3cret", "Bearer s3cre", "Bearer s3cret2", "s3cret", "Bearer S3CRET"] {
            assert_eq!(ok(bad), Err(ApiError::Unauthorized), "{bad:?}");
        }
        assert_eq!(authorize(None, Some("k"), Production, false), Err(ApiError::Unauthorized));
    }

    #[test]
    fn a_missing_key_refuses_everything() {
        for key in [None, Some("")] {
            let e = authorize(Some("Bearer "), key, Production, false).unwrap_err();
            assert_eq!(e, ApiError::Misconfigured { setting: "INTERNAL_API_KEY" });
        }
    }

    #[test]
    fn the_bypass_works_only_in_development() {
        assert_eq!(authorize(None, None, Development, true), Ok(AuthOutcome::Skipped));
        assert!(authorize(None, Some("k"), Production, true).is_err());
        assert!(skip_requested(Some("true")) && skip_requested(Some("1")) && !skip_requested(Some("false")) && !skip_requested(None));
    }
}
