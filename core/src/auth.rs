//! Who may call `/internal/*` and what each credential may do, decided without I/O.
//!
//! Two kinds of credential exist. The admin key (`INTERNAL_API_KEY`, and during a rotation also
//! `INTERNAL_API_KEY_PREVIOUS`) opens every route. A node token (`node_token`) opens one door:
//! `POST /internal/server-metrics` for its own node, so root on one tenant VM cannot re-point,
//! drain, delete or bill through the rest of the fleet. Fails closed: no configured admin key
//! refuses everything, and the development bypass is honoured only in `development`.
//!
//! The shell runs three steps: `identify` the credential (a node token still needs its node's
//! stored row, checked by `node_token::verify`), `permit` the matched route for the principal,
//! and, in the metrics push, `permit_metrics_for` the body's node.

use crate::domain::Environment;
use crate::error::ApiError;
use crate::ids::NodeId;
use crate::node_token::{self, PresentedToken};
use crate::routes::Route;

/// The configured admin keys (None or empty: not set).
#[derive(Debug, Clone, Copy)]
pub struct AdminKeys<'a> {
    pub current: Option<&'a str>,
    pub previous: Option<&'a str>,
}

/// Which admin key matched; the shell logs a warning for `Previous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminKey {
    Current,
    Previous,
}

/// The credential of a request, identified but (for a node token) not yet verified.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `SKIP_INTERNAL_API_AUTH` in development: let it through as admin.
    Skipped,
    Admin(AdminKey),
    /// Has a node token's shape: look up `node_id`'s stored token and `node_token::verify` it.
    NodeToken(PresentedToken<'a>),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Node(NodeId),
}

/// Whether the bypass is requested; a production deployment that sets it gets a warning logged
/// by the shell and the bypass ignored.
pub fn skip_requested(raw: Option<&str>) -> bool {
    matches!(raw.map(|s| s.trim().to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes"))
}

/// Identifies the credential of an `Authorization` header. Both admin keys are always compared
/// (in constant time), so the time taken does not say which one was close.
pub fn identify<'h>(authorization: Option<&'h str>, keys: AdminKeys<'_>, environment: Environment, skip: bool) -> Result<Credential<'h>, ApiError> {
    if skip && environment == Environment::Development {
        return Ok(Credential::Skipped);
    }
    let current = match keys.current {
        Some(k) if !k.is_empty() => k,
        _ => return Err(ApiError::Misconfigured { setting: "INTERNAL_API_KEY" }),
    };
    let token = authorization.and_then(bearer_token).ok_or(ApiError::Unauthorized)?;
    let is_current = constant_time_eq(token.as_bytes(), current.as_bytes());
    let is_previous = keys.previous.filter(|k| !k.is_empty()).is_some_and(|k| constant_time_eq(token.as_bytes(), k.as_bytes()));
    if is_current {
        Ok(Credential::Admin(AdminKey::Current))
    } else if is_previous {
        Ok(Credential::Admin(AdminKey::Previous))
    } else {
        node_token::parse(token).map(Credential::NodeToken).ok_or(ApiError::Unauthorized)
    }
}

/// Whether `principal` may call the matched route. A node token gets nothing but the metrics
/// push: another route, an unknown path or a wrong method is a 403 (it learns nothing about
/// the route table); an admin gets the route or its 404/405.
pub fn permit(principal: &Principal, matched: Result<Route, ApiError>) -> Result<Route, ApiError> {
    match (principal, matched) {
        (Principal::Admin, matched) => matched,
        (Principal::Node(_), Ok(Route::MetricsPush)) => Ok(Route::MetricsPush),
        (Principal::Node(_), _) => Err(ApiError::Forbidden),
    }
}

/// A node token pushes metrics for its own node only.
pub fn permit_metrics_for(principal: &Principal, node_id: &NodeId) -> Result<(), ApiError> {
    match principal {
        Principal::Admin => Ok(()),
        Principal::Node(own) if own == node_id => Ok(()),
        Principal::Node(_) => Err(ApiError::Forbidden),
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
    use crate::node_token::SECRET_BYTES;
    use crate::routes::{match_route, ROUTES};
    use Environment::*;

    const ONE: AdminKeys = AdminKeys { current: Some("s3cret"), previous: None };
    const ROTATING: AdminKeys = AdminKeys { current: Some("new-key"), previous: Some("old-key") };

    fn who<'h>(header: &'h str, keys: AdminKeys<'_>) -> Result<Credential<'h>, ApiError> {
        identify(Some(header), keys, Production, false)
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_exact() {
        assert_eq!(who("Bearer s3cret", ONE), Ok(Credential::Admin(AdminKey::Current)));
        assert_eq!(who("bearer s3cret", ONE), Ok(Credential::Admin(AdminKey::Current)));
        assert_eq!(who("BEARER  s3cret", ONE), Ok(Credential::Admin(AdminKey::Current)));
        for bad in ["", "Bearer", "Bearer ", "Basic s3cret", "Bearer s3cre", "Bearer s3cret2", "s3cret", "Bearer S3CRET", "Token s3cret"] {
            assert_eq!(who(bad, ONE), Err(ApiError::Unauthorized), "{bad:?}");
        }
        assert_eq!(identify(None, ONE, Production, false), Err(ApiError::Unauthorized));
    }

    #[test]
    fn both_keys_open_the_door_during_a_rotation_and_only_then() {
        let cases: &[(&str, AdminKeys, Result<Credential, ApiError>)] = &[
            ("Bearer new-key", ROTATING, Ok(Credential::Admin(AdminKey::Current))),
            ("Bearer old-key", ROTATING, Ok(Credential::Admin(AdminKey::Previous))),
            ("Bearer old-ke", ROTATING, Err(ApiError::Unauthorized)),
            ("Bearer old-key", AdminKeys { current: Some("new-key"), previous: None }, Err(ApiError::Unauthorized)),
            ("Bearer old-key", AdminKeys { current: Some("new-key"), previous: Some("") }, Err(ApiError::Unauthorized)),
            // The same value in both: it is the current key, no rotation warning.
            ("Bearer k", AdminKeys { current: Some("k"), previous: Some("k") }, Ok(Credential::Admin(AdminKey::Current))),
        ];
        for (header, keys, want) in cases {
            assert_eq!(&who(header, *keys), want, "{header} {keys:?}");
        }
    }

    #[test]
    fn a_missing_key_refuses_everything_even_a_previous_key_or_node_token() {
        let token = node_token::issue(&NodeId::parse("n", "n1").unwrap(), 1, &[1; SECRET_BYTES]);
        for keys in [AdminKeys { current: None, previous: None }, AdminKeys { current: Some(""), previous: Some("old") }] {
            for header in ["Bearer ".to_string(), "Bearer old".to_string(), format!("Bearer {}", token.token.expose())] {
                assert_eq!(identify(Some(&header), keys, Production, false).unwrap_err(), ApiError::Misconfigured { setting: "INTERNAL_API_KEY" });
            }
        }
    }

    #[test]
    fn a_node_token_shape_is_handed_on_for_verification() {
        let token = node_token::issue(&NodeId::parse("n", "hz-sg-1").unwrap(), 4, &[9; SECRET_BYTES]);
        let header = format!("Bearer {}", token.token.expose());
        match who(&header, ONE) {
            Ok(Credential::NodeToken(p)) => assert_eq!((p.node_id.as_str(), p.version), ("hz-sg-1", 4)),
            other => panic!("{other:?}"),
        }
        for other_scheme in ["Basic", "Token", "cpn1"] {
            assert_eq!(who(&format!("{other_scheme} {}", token.token.expose()), ONE), Err(ApiError::Unauthorized));
        }
    }

    #[test]
    fn the_bypass_works_only_in_development() {
        assert_eq!(identify(None, AdminKeys { current: None, previous: None }, Development, true), Ok(Credential::Skipped));
        assert!(identify(None, ONE, Production, true).is_err());
        assert!(skip_requested(Some("true")) && skip_requested(Some("1")) && !skip_requested(Some("false")) && !skip_requested(None));
    }

    #[test]
    fn a_node_token_may_push_metrics_and_nothing_else() {
        let node = Principal::Node(NodeId::parse("n", "n1").unwrap());
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{node_id}", "n1").replace("{tenant_id}", "t1").replace("{job_id}", "j1");
            let matched = match_route(method, &path);
            let want_ok = (*method, *pattern) == ("POST", "/internal/server-metrics");
            assert_eq!(permit(&node, matched.clone()).is_ok(), want_ok, "{method} {path}");
            if !want_ok {
                assert_eq!(permit(&node, matched.clone()), Err(ApiError::Forbidden), "{method} {path}");
            }
            assert_eq!(permit(&Principal::Admin, matched.clone()), matched, "admin: {method} {path}");
        }
        // Unknown paths and wrong methods: 403 for a node, the usual 404/405 for an admin.
        for (method, path) in [("GET", "/internal/server-metrics"), ("PUT", "/internal/server-metrics"), ("POST", "/internal/nope")] {
            assert_eq!(permit(&node, match_route(method, path)), Err(ApiError::Forbidden), "{method} {path}");
            assert!(matches!(permit(&Principal::Admin, match_route(method, path)).unwrap_err().status(), 404 | 405));
        }
    }

    #[test]
    fn a_node_pushes_for_itself_only() {
        let n1 = NodeId::parse("n", "n1").unwrap();
        let n2 = NodeId::parse("n", "n2").unwrap();
        assert_eq!(permit_metrics_for(&Principal::Node(n1.clone()), &n1), Ok(()));
        assert_eq!(permit_metrics_for(&Principal::Node(n1.clone()), &n2), Err(ApiError::Forbidden));
        assert_eq!(permit_metrics_for(&Principal::Node(n1), &NodeId::parse("n", "N1").unwrap()), Err(ApiError::Forbidden));
        assert_eq!(permit_metrics_for(&Principal::Admin, &n2), Ok(()));
    }
}
