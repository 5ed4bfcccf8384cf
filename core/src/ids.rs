//! Identifiers with rules, as newtypes: once a `NodeId` or `TraceId` exists it is valid, so no
//! route re-checks it and no invalid id travels inward to D1 or the queue.

use crate::error::ApiError;
use serde::Serialize;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// 1-64 of `[A-Za-z0-9._-]` with at least one letter or digit (so `..` is not an id).
    NodeId
);
id_type!(
    /// A tenant's canonical id, as it appears in the enqueue path: 1-128 of `[A-Za-z0-9._-]`
    /// with at least one letter or digit. Narrow on purpose: it travels into URLs, workflow
    /// inputs and stack names.
    TenantId
);
id_type!(
    /// `trace_` followed by visible ASCII, at most 128 characters in all, after trimming.
    TraceId
);
id_type!(
    /// A DNS label: 1-63 of `[a-z0-9-]`, no leading or trailing `-`.
    SubdomainSlug
);

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The shared rule of node and tenant ids: 1-`max` of `[A-Za-z0-9._-]`, at least one letter or
/// digit.
fn plain_id(field: &str, s: &str, max: usize) -> Result<String, ApiError> {
    if (1..=max).contains(&s.len()) && s.chars().all(is_id_char) && s.chars().any(|c| c.is_ascii_alphanumeric()) {
        Ok(s.to_string())
    } else {
        Err(ApiError::bad_field(field, format!("{field} must be 1-{max} of [A-Za-z0-9._-] with at least one letter or digit")))
    }
}

impl NodeId {
    pub fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        plain_id(field, s, 64).map(NodeId)
    }
}

impl TenantId {
    pub fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        plain_id(field, s, 128).map(TenantId)
    }
}

impl TraceId {
    pub fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        let s = s.trim();
        if s.starts_with("trace_") && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(TraceId(s.to_string()))
        } else {
            Err(ApiError::bad_field(field, format!("{field} must start with trace_ and be at most 128 visible ASCII characters")))
        }
    }

    /// A fresh id from a UUID the shell generated (the core has no randomness).
    pub fn from_uuid(uuid: &str) -> Self {
        TraceId(format!("trace_{uuid}"))
    }
}

impl SubdomainSlug {
    pub fn parse(field: &str, s: &str) -> Result<Self, ApiError> {
        if is_dns_label(s) && !s.bytes().any(|b| b.is_ascii_uppercase()) {
            Ok(SubdomainSlug(s.to_string()))
        } else {
            Err(ApiError::bad_field(field, format!("{field} must be a DNS label: 1-63 of [a-z0-9-], no leading or trailing -")))
        }
    }
}

/// 1-63 of `[A-Za-z0-9-]`, not starting or ending with `-`.
pub fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !s.starts_with('-') && !s.ends_with('-')
}

/// A host name of at most 253 characters made of DNS labels separated by dots.
pub fn is_dns_name(s: &str) -> bool {
    (1..=253).contains(&s.len()) && s.split('.').all(is_dns_label)
}

/// A node's `host`: an IPv4/IPv6 address or a DNS name (what the workflow uses for SSH).
pub fn parse_host(field: &str, s: &str) -> Result<String, ApiError> {
    if s.parse::<std::net::IpAddr>().is_ok() || is_dns_name(s) {
        Ok(s.to_string())
    } else {
        Err(ApiError::bad_field(field, format!("{field} must be an IP address or a DNS name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        for ok in ["hz-sg-1", "a", "node.eu_2", &"x".repeat(64)] {
            assert!(NodeId::parse("node_id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "-_.", "a b", "a/b", "../etc", "nöde", "a\u{0}", &"x".repeat(65), "x'; DROP TABLE nodes;--"] {
            assert!(NodeId::parse("node_id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trace_ids_are_trimmed_and_prefixed() {
        assert_eq!(TraceId::parse("trace_id", "  trace_abc \n").unwrap().as_str(), "trace_abc");
        for bad in ["abc", "TRACE_x", "trace_a b", "trace_\u{7}", "trace_é", &format!("trace_{}", "x".repeat(123))] {
            assert!(TraceId::parse("trace_id", bad).is_err(), "{bad:?}");
        }
        assert!(TraceId::parse("trace_id", &format!("trace_{}", "x".repeat(122))).is_ok());
    }

    #[test]
    fn slugs_are_lowercase_dns_labels() {
        for ok in ["acme", "a", "acme-2", &"a".repeat(63)] {
            assert!(SubdomainSlug::parse("s", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-acme", "acme-", "Acme", "ac_me", "ac.me", &"a".repeat(64)] {
            assert!(SubdomainSlug::parse("s", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_are_ips_or_dns_names() {
        for ok in ["10.0.0.1", "2001:db8::1", "node-1.example.com", "localhost"] {
            assert!(parse_host("host", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "-a.com", "http://x", "a b", "1.2.3.4:22", &format!("{}.com", "a".repeat(64))] {
            assert!(parse_host("host", bad).is_err(), "{bad:?}");
        }
    }
}
