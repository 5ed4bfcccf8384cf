//! Strict JSON request bodies.
//!
//! The contract refuses what a lenient parser would let through: duplicate keys (which value
//! wins is parser-dependent, so a typo could silently change a write), unknown fields, and a
//! string or boolean where a number belongs. `Fields` hands a route its fields one by one, so
//! every refusal names the field it is about.

use crate::error::ApiError;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::collections::BTreeSet;

/// The largest body any route accepts (64 KiB); larger is 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON value that refuses duplicate object keys at every depth.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        Number::from_f64(v).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if out.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parses a body that must be one JSON object. An empty body counts as `{}` so that routes whose
/// fields are all optional can be called without one.
pub fn parse_object(body: &[u8]) -> Result<Fields, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields { map: Map::new() });
    }
    let Strict(value) = serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(Fields { map }),
        _ => Err(ApiError::bad_request("invalid_json", "body must be a JSON object")),
    }
}

/// The fields of a request object, taken one at a time. An optional field may be absent; `null`
/// is accepted only where the contract says so (the metrics percentages: "omit or null if
/// unknown"), so `{"region": null}` is a 400, not a silent default.
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// Refuses any field not in `allowed` (typos are caught, not ignored).
    pub fn deny_unknown(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let unknown: BTreeSet<&str> = self.map.keys().map(String::as_str).filter(|k| !allowed.contains(k)).collect();
        match unknown.into_iter().next() {
            None => Ok(()),
            Some(k) => Err(ApiError::BadRequest {
                code: "unknown_field",
                message: format!("unknown field {k:?}; allowed: {}", allowed.join(", ")),
                field: Some(truncate(k, 64)),
            }),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    /// The raw value, for a field that may take more than one type.
    pub fn opt_value(&mut self, name: &str) -> Option<Value> {
        self.take(name)
    }

    pub fn opt_str(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(name, "a string", &other)),
        }
    }

    pub fn req_str(&mut self, name: &str) -> Result<String, ApiError> {
        self.opt_str(name)?.ok_or_else(|| ApiError::bad_field(name, format!("{name} is required")))
    }

    /// A number (integer or decimal) within `min..=max`, or absent, or null (unknown).
    pub fn opt_number_in(&mut self, name: &str, min: f64, max: f64) -> Result<Option<f64>, ApiError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v.is_finite() && v >= min && v <= max => Ok(Some(v)),
                _ => Err(ApiError::bad_field(name, format!("{name} must be between {min} and {max}"))),
            },
            Some(other) => Err(wrong_type(name, "a number", &other)),
        }
    }

    /// A whole number within `0..=max`, or absent. Numbers may be written as decimals (`7.0`,
    /// as some JSON encoders do), but `2.5` and `-1` are not counts.
    pub fn opt_count(&mut self, name: &str, max: u64) -> Result<Option<u64>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match whole_number(&n, max) {
                Some(v) => Ok(Some(v)),
                None => Err(ApiError::bad_field(name, format!("{name} must be a whole number from 0 to {max}"))),
            },
            Some(other) => Err(wrong_type(name, "a whole number", &other)),
        }
    }

    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(wrong_type(name, "true or false", &other)),
        }
    }

    pub fn opt_object(&mut self, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(wrong_type(name, "a JSON object", &other)),
        }
    }

    /// Takes the first present field of `names` (a field and its alias); both present is an error,
    /// since they could disagree.
    pub fn opt_str_alias(&mut self, names: &[&str]) -> Result<Option<String>, ApiError> {
        let present: Vec<&str> = names.iter().copied().filter(|n| self.map.contains_key(*n)).collect();
        if present.len() > 1 {
            return Err(ApiError::bad_field(present[1], format!("give only one of {}", names.join(", "))));
        }
        match present.first() {
            Some(n) => self.opt_str(n),
            None => Ok(None),
        }
    }
}

/// A JSON number that is a whole number within `0..=max`, written as an integer or as a decimal
/// (`7.0`): JSON Schema's `integer` is any number without a fractional part, and the OpenAPI
/// document promises exactly that.
pub fn whole_number(n: &Number, max: u64) -> Option<u64> {
    // 2^64: every f64 below it that is whole fits in a u64.
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    let v = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < TWO_POW_64).map(|f| f as u64))?;
    (v <= max).then_some(v)
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> ApiError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::bad_field(name, format!("{name} must be {expected}, not {kind}"))
}

/// Cuts a client-supplied string before echoing it in an error.
pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Result<Fields, ApiError> {
        parse_object(s.as_bytes())
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(fields(r#"{"a":1,"a":2}"#).is_err());
        assert!(fields(r#"{"l":{"x":"1","x":"2"}}"#).is_err());
        assert!(fields(r#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn only_objects_are_bodies() {
        for bad in ["[]", "1", "\"x\"", "null", "{", "{\"a\":}", "{\"a\":1e999}", "\u{feff}{}"] {
            let e = fields(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
        assert!(fields("").is_ok());
        assert!(fields("  \n").is_ok());
    }

    #[test]
    fn oversized_bodies_are_413() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_object(&big).unwrap_err().status(), 413);
    }

    #[test]
    fn numbers_must_be_numbers_within_range() {
        let mut f = fields(r#"{"a":"50","b":true,"c":[1],"d":100.0,"e":100.01,"f":null,"g":-0.0}"#).unwrap();
        assert!(f.opt_number_in("a", 0.0, 100.0).is_err());
        assert!(f.opt_number_in("b", 0.0, 100.0).is_err());
        assert!(f.opt_number_in("c", 0.0, 100.0).is_err());
        assert_eq!(f.opt_number_in("d", 0.0, 100.0).unwrap(), Some(100.0));
        assert!(f.opt_number_in("e", 0.0, 100.0).is_err());
        assert_eq!(f.opt_number_in("f", 0.0, 100.0).unwrap(), None, "null is unknown for percentages");
        assert_eq!(f.opt_number_in("g", 0.0, 100.0).unwrap(), Some(0.0));
        assert_eq!(f.opt_number_in("absent", 0.0, 100.0).unwrap(), None);
    }

    #[test]
    fn counts_are_whole_and_bounded() {
        let mut f = fields(r#"{"a":3,"b":3.0,"c":-1,"d":1e30,"e":18446744073709551616,"f":2.5,"g":-0.0}"#).unwrap();
        assert_eq!(f.opt_count("a", 10).unwrap(), Some(3));
        assert_eq!(f.opt_count("b", 10).unwrap(), Some(3), "a decimal whole number is a count");
        assert_eq!(f.opt_count("g", 10).unwrap(), Some(0));
        for k in ["c", "d", "e", "f"] {
            assert!(f.opt_count(k, 10).is_err(), "{k}");
        }
    }

    #[test]
    fn whole_numbers_may_be_written_as_decimals_up_to_u64() {
        let n = |s: &str| serde_json::from_str::<Number>(s).unwrap();
        assert_eq!(whole_number(&n("96116595.0"), u64::MAX), Some(96_116_595));
        assert_eq!(whole_number(&n("18446744073709551615"), u64::MAX), Some(u64::MAX));
        assert_eq!(whole_number(&n("1.8446744073709552e19"), u64::MAX), None, "2^64 is past u64");
        for bad in ["-1", "1.5", "1e300", "-0.5"] {
            assert_eq!(whole_number(&n(bad), u64::MAX), None, "{bad}");
        }
        assert_eq!(whole_number(&n("11"), 10), None);
    }

    #[test]
    fn null_is_not_a_default_outside_the_percentages() {
        let mut f = fields(r#"{"region":null,"n":null,"b":null,"o":null}"#).unwrap();
        assert_eq!(f.opt_str("region").unwrap_err().status(), 400);
        assert!(f.opt_count("n", 5).is_err() && f.opt_bool("b").is_err() && f.opt_object("o").is_err());
    }

    #[test]
    fn unknown_fields_name_the_field() {
        let f = fields(r#"{"node_id":"a","cpu_pc":1}"#).unwrap();
        let e = f.deny_unknown(&["node_id", "cpu_pct"]).unwrap_err();
        assert_eq!(serde_json::to_value(e.body()).unwrap()["error"]["field"], "cpu_pc");
    }

    #[test]
    fn an_alias_and_its_field_together_are_refused() {
        let mut f = fields(r#"{"plan_tier":"basic","tier":"free"}"#).unwrap();
        assert!(f.opt_str_alias(&["plan_tier", "tier"]).is_err());
        let mut f = fields(r#"{"tier":"free"}"#).unwrap();
        assert_eq!(f.opt_str_alias(&["plan_tier", "tier"]).unwrap().as_deref(), Some("free"));
    }
}
