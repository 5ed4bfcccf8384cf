//! The list routes' paging: the `limit` query parameter, and their opaque cursors: a position written as lowercase hex, so clients treat it as
//! a token and its inside can change without breaking them. Each list decides what the text
//! holds (the job list `created_at:job_id`, the node list the last node_id) and checks it.

use crate::error::ApiError;

pub fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text inside a cursor of at most `max_hex` characters; any other input is the 400 every
/// list answers for a cursor it did not give out.
pub fn decode(raw: &str, max_hex: usize) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > max_hex || !raw.len().is_multiple_of(2) {
        return Err(not_ours());
    }
    let bytes: Vec<u8> =
        (0..raw.len()).step_by(2).map(|i| raw.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect::<Option<_>>().ok_or_else(not_ours)?;
    String::from_utf8(bytes).map_err(|_| not_ours())
}

/// A `limit` query value: a whole number from 1 to `max`.
pub fn page_limit(raw: &str, max: u32) -> Result<u32, ApiError> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::bad_field("limit", format!("limit must be a whole number from 1 to {max}")))
}

pub fn not_ours() -> ApiError {
    ApiError::bad_field("cursor", "cursor is not one this API gave out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        assert_eq!(decode(&encode("hz-sg-1"), 128).unwrap(), "hz-sg-1");
        for bad in ["", "6", "zz", "ff", "6g"] {
            assert_eq!(decode(bad, 128).unwrap_err().body().error.field.as_deref(), Some("cursor"), "{bad}");
        }
        assert!(decode(&encode(&"a".repeat(65)), 128).is_err());
        assert_eq!(page_limit("7", 10), Ok(7));
        for bad in ["0", "11", "-1", "1.0", ""] {
            assert!(page_limit(bad, 10).is_err(), "{bad}");
        }
    }
}
