//! Per-node push tokens: their wire form, how they are derived for storage, and how a presented
//! token is checked against what is stored. No I/O: the shell supplies the random bytes when it
//! issues one and the stored row when it checks one.
//!
//! Why this shape: a tenant escape on one node must not reach the rest of the control plane, so a
//! node holds a credential that opens one door (its own metrics push) instead of the admin key.
//! The token names its node and version in clear (neither is secret) so the shell can fetch the
//! one row it needs; D1 keeps only SHA-256 of the whole token, so a leaked database dump holds no
//! usable credential. The secret part is 256 random bits, which is why a plain (unsalted, fast)
//! hash is enough: there is nothing to brute-force. Issuing again bumps the version and replaces
//! the hash, which is what revokes the previous token.
//!
//! Wire form: `cpn1.{node_id}.{version}.{secret}` with `secret` 64 lowercase hex digits. Node ids
//! may contain `.`, so the token is split from the right, where neither part can hold one.

use crate::auth::constant_time_eq;
use crate::config::Secret;
use crate::error::ApiError;
use crate::ids::NodeId;
use sha2::{Digest, Sha256};

/// Marks a node token (and its format version) so it is never mistaken for an admin key.
pub const PREFIX: &str = "cpn1.";
/// Random bytes in a token's secret part.
pub const SECRET_BYTES: usize = 32;

/// A bearer credential that has the shape of a node token; not yet checked against D1.
#[derive(Debug, PartialEq, Eq)]
pub struct PresentedToken<'a> {
    pub node_id: NodeId,
    pub version: u32,
    raw: &'a str,
}

/// What D1 holds for a node: the version of its newest token and that token's hash, `None` once
/// revoked (the version is kept so the next token gets a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub version: u32,
    pub hash: Option<String>,
}

/// A freshly issued token: `token` goes to the caller once, `hash` to D1.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: Secret,
    pub version: u32,
    pub hash: String,
}

/// The version the next token of a node gets, given its stored row (`None`: never issued).
/// `None` when the counter is exhausted, which no real node reaches.
pub fn next_version(stored: Option<&StoredToken>) -> Option<u32> {
    stored.map_or(Some(1), |s| s.version.checked_add(1))
}

/// Builds the token for `node_id` at `version` from `secret` (random bytes from the runtime).
pub fn issue(node_id: &NodeId, version: u32, secret: &[u8; SECRET_BYTES]) -> IssuedToken {
    let token = format!("{PREFIX}{node_id}.{version}.{}", hex(secret));
    let hash = hash(&token);
    IssuedToken { token: Secret::new(token), version, hash }
}

/// SHA-256 of the whole token, lowercase hex: the only form D1 ever sees.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `raw` has the shape of a node token; `None` for anything else (an admin key, garbage),
/// which the caller treats as an unknown credential.
pub fn parse(raw: &str) -> Option<PresentedToken<'_>> {
    let rest = raw.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplitn(3, '.');
    let (secret, version, node_id) = (parts.next()?, parts.next()?, parts.next()?);
    let secret_ok = secret.len() == SECRET_BYTES * 2 && secret.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let version_ok = !version.is_empty() && version.len() <= 10 && !version.starts_with('0') && version.bytes().all(|b| b.is_ascii_digit());
    if !secret_ok || !version_ok {
        return None;
    }
    let version = version.parse().ok()?;
    let node_id = NodeId::parse("node_id", node_id).ok()?;
    Some(PresentedToken { node_id, version, raw })
}

/// Checks a presented token against its node's stored row: the node must still have a token, of
/// the same version, whose hash matches in constant time. Every failure is the same 401, so the
/// answer does not tell a forger which part was wrong.
pub fn verify(presented: &PresentedToken<'_>, stored: Option<&StoredToken>) -> Result<NodeId, ApiError> {
    let Some(StoredToken { version, hash: Some(stored_hash) }) = stored else {
        return Err(ApiError::Unauthorized);
    };
    let hash_ok = constant_time_eq(hash(presented.raw).as_bytes(), stored_hash.as_bytes());
    if hash_ok & (*version == presented.version) {
        Ok(presented.node_id.clone())
    } else {
        Err(ApiError::Unauthorized)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeId {
        NodeId::parse("node_id", id).unwrap()
    }

    fn issued(id: &str, version: u32, fill: u8) -> IssuedToken {
        issue(&node(id), version, &[fill; SECRET_BYTES])
    }

    fn stored(t: &IssuedToken) -> StoredToken {
        StoredToken { version: t.version, hash: Some(t.hash.clone()) }
    }

    fn check(raw: &str, row: Option<&StoredToken>) -> Result<NodeId, ApiError> {
        match parse(raw) {
            Some(p) => verify(&p, row),
            None => Err(ApiError::Unauthorized),
        }
    }

    #[test]
    fn the_wire_form_names_node_and_version_and_hides_nothing_else() {
        let t = issued("hz-sg.1", 3, 0xab);
        let raw = t.token.expose();
        assert_eq!(raw, format!("cpn1.hz-sg.1.3.{}", "ab".repeat(32)));
        let p = parse(raw).unwrap();
        assert_eq!((p.node_id.as_str(), p.version), ("hz-sg.1", 3));
        assert_eq!(t.hash.len(), 64);
        assert!(!t.hash.contains(&"ab".repeat(32)) && t.hash != *raw, "the stored form is not the token");
        assert_eq!(format!("{:?}", t.token), "Secret(***)");
    }

    #[test]
    fn an_issued_token_verifies_for_its_node_only() {
        let t = issued("hz-sg-1", 1, 7);
        assert_eq!(check(t.token.expose(), Some(&stored(&t))), Ok(node("hz-sg-1")));
        // Another node's row never verifies it, even at the same version.
        let other = issued("hz-sg-2", 1, 8);
        let forged = t.token.expose().replace("hz-sg-1", "hz-sg-2");
        assert_eq!(check(&forged, Some(&stored(&other))), Err(ApiError::Unauthorized));
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let t = issued("hz-sg-1", 12, 0x5c);
        let row = stored(&t);
        let raw = t.token.expose();
        for i in 0..raw.len() {
            for replacement in ['0', 'f', 'x', '.', '-'] {
                let mut bytes = raw.as_bytes().to_vec();
                if bytes[i] == replacement as u8 {
                    continue;
                }
                bytes[i] = replacement as u8;
                let changed = String::from_utf8(bytes).unwrap();
                assert_eq!(check(&changed, Some(&row)), Err(ApiError::Unauthorized), "{changed}");
            }
        }
    }

    #[test]
    fn reissued_revoked_and_deleted_tokens_are_refused() {
        let old = issued("n1", 1, 1);
        let new = issued("n1", next_version(Some(&stored(&old))).unwrap(), 2);
        assert_eq!(new.version, 2);
        assert_eq!(check(old.token.expose(), Some(&stored(&new))), Err(ApiError::Unauthorized), "re-issued");
        assert!(check(new.token.expose(), Some(&stored(&new))).is_ok());
        let revoked = StoredToken { version: 2, hash: None };
        assert_eq!(check(new.token.expose(), Some(&revoked)), Err(ApiError::Unauthorized), "revoked");
        assert_eq!(check(new.token.expose(), None), Err(ApiError::Unauthorized), "node deleted");
        // The same secret at another version is another token.
        let same_secret = issued("n1", 1, 2);
        assert_eq!(check(same_secret.token.expose(), Some(&stored(&new))), Err(ApiError::Unauthorized));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = issued("n1", 1, 9);
        let raw = good.token.expose().to_string();
        let cases = [
            String::new(),
            "cpn1.".into(),
            "cpn1.n1.1".into(),
            raw[..raw.len() - 1].to_string(),
            format!("{raw}0"),
            raw.to_uppercase(),
            raw.replace("cpn1.", "cpn2."),
            raw.replace(".1.", ".01."),
            raw.replace(".1.", ".0."),
            raw.replace(".1.", "..").to_string(),
            raw.replace(".1.", ".99999999999."),
            raw.replace("n1.", "n 1."),
            raw.replace("n1.", "..."),
            format!("cpn1..1.{}", "0".repeat(64)),
            format!("cpn1.{}.1.{}", "a".repeat(65), "0".repeat(64)),
            "test-internal-key".into(),
        ];
        for c in cases {
            assert!(parse(&c).is_none(), "{c:?}");
        }
        assert_eq!(next_version(None), Some(1));
        assert_eq!(next_version(Some(&StoredToken { version: u32::MAX, hash: None })), None);
    }

    #[test]
    fn hash_is_sha256_hex() {
        // The SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
