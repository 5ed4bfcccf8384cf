//! Requests drawn from `openapi.json` itself, for the contract suite.
//!
//! Only the document decides what a request may be: parameters and bodies are generated from the
//! operations' schemas (strings from their `pattern`, numbers within their bounds, whole numbers
//! sometimes written as `7.0`, optional fields sometimes left out, text with the characters rules
//! are about), and broken on purpose by mutations (a wrong type, a value past its bound, a missing
//! required field, an unknown one). The validator (`schema_doc.rs`), not the generator, then says
//! whether a request is schema-valid, so a generator that misses a rule only shifts the mix.

use crate::schema_doc::{Doc, In, Operation, Req};
use proptest::strategy::{Strategy, ValueTree};
use proptest::string::{string_regex, RegexGeneratorStrategy};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The generator: a deterministic stream of choices from one seed.
pub struct Gen {
    state: u64,
    runner: TestRunner,
    strategies: HashMap<String, RegexGeneratorStrategy<String>>,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
        Gen { state: seed, runner: TestRunner::new_with_rng(Config::default(), rng), strategies: HashMap::new() }
    }

    /// splitmix64.
    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string the regex matches in full (JSON Schema patterns are searches; the document
    /// anchors the ones that describe a whole value).
    fn matching(&mut self, pattern: &str) -> String {
        let bare = pattern.strip_prefix('^').unwrap_or(pattern);
        let bare = bare.strip_suffix('$').unwrap_or(bare);
        let strategy = self.strategies.entry(bare.to_string()).or_insert_with(|| string_regex(bare).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}")));
        strategy.new_tree(&mut self.runner).expect("a string from a pattern").current()
    }

    /// A request for `op`: every required parameter, optional ones and an optional body half the
    /// time, each drawn from its schema.
    pub fn request(&mut self, doc: &Doc, op: &Operation) -> Req {
        let mut params = BTreeMap::new();
        for p in &op.params {
            if p.required || self.chance(2) {
                let v = self.value(doc, &p.schema, 0);
                params.insert(p.name.clone(), (p.location, v.as_str().map_or_else(|| v.to_string(), String::from)));
            }
        }
        let body = match &op.body {
            Some((schema, required)) if *required || !self.chance(4) => Some(self.value(doc, schema, 0)),
            _ => None,
        };
        Req { params, body }
    }

    /// A value for `schema` (usually valid; the validator has the last word).
    pub fn value(&mut self, doc: &Doc, schema: &Value, depth: usize) -> Value {
        let s = doc.resolve(schema);
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(options) = s.get("enum").and_then(Value::as_array) {
            return self.pick(options).clone();
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let Some(subs) = s.get(combinator).and_then(Value::as_array) {
                let mut merged = s.as_object().unwrap().clone();
                merged.remove(combinator);
                let chosen: Vec<&Value> = if combinator == "allOf" { subs.iter().collect() } else { vec![self.pick(subs)] };
                for sub in chosen {
                    for (k, v) in doc.resolve(sub).as_object().unwrap() {
                        match (k.as_str(), merged.get_mut(k)) {
                            ("properties", Some(Value::Object(mine))) => mine.extend(v.as_object().unwrap().clone()),
                            ("required", Some(Value::Array(mine))) => mine.extend(v.as_array().unwrap().clone()),
                            _ => {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                return self.value(doc, &Value::Object(merged), depth);
            }
        }
        let kind = match s.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => {
                let non_null: Vec<&Value> = ts.iter().filter(|t| *t != "null").collect();
                if non_null.len() < ts.len() && (non_null.is_empty() || self.chance(5)) {
                    return Value::Null;
                }
                self.pick(&non_null).as_str().unwrap().to_string()
            }
            _ if s.get("properties").is_some() => "object".into(),
            _ if s.get("pattern").is_some() || s.get("format").is_some() || s.get("maxLength").is_some() => "string".into(),
            _ => return self.any_json(depth),
        };
        match kind.as_str() {
            "string" => Value::String(self.string(s)),
            "integer" => self.integer(s),
            "number" => self.number(s),
            "boolean" => Value::Bool(self.chance(2)),
            "null" => Value::Null,
            "array" => {
                let n = self.below(4).min(s.get("maxItems").and_then(Value::as_u64).unwrap_or(3) as usize);
                Value::Array((0..n).map(|_| self.value(doc, s.get("items").unwrap_or(&json!({})), depth + 1)).collect())
            }
            "object" => self.object(doc, s, depth),
            other => panic!("cannot generate type {other}"),
        }
    }

    fn string(&mut self, s: &Value) -> String {
        let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = s.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
        let mut last = String::new();
        for _ in 0..20 {
            last = match (s.get("format").and_then(Value::as_str), s.get("pattern").and_then(Value::as_str)) {
                (Some("ipv4"), _) => std::net::Ipv4Addr::from(self.next() as u32).to_string(),
                (Some("ipv6"), _) => std::net::Ipv6Addr::from(u128::from(self.next()) << 64 | u128::from(self.next())).to_string(),
                (Some("date-time"), _) => "2026-11-22T10:00:00Z".to_string(),
                (_, Some(p)) => self.matching(p),
                _ => {
                    let len = min + self.below(max.saturating_sub(min).min(24) + 1);
                    (0..len).map(|_| self.char()).collect()
                }
            };
            if (min..=max).contains(&last.chars().count()) {
                break;
            }
        }
        last
    }

    /// Mostly printable ASCII; sometimes any scalar value, or one of the characters that rules
    /// about text are about (controls, line separators, invisible and multi-byte ones).
    fn char(&mut self) -> char {
        const EDGES: [char; 14] = ['\0', '\u{7}', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}', '\u{2028}', '\u{200b}', '\u{fffd}', 'é', '😀'];
        match self.below(8) {
            0 => char::from_u32(self.next() as u32 % 0x11_0000).unwrap_or('\u{FFFD}'),
            1 => *self.pick(&EDGES),
            _ => char::from(b' ' + (self.next() % 95) as u8),
        }
    }

    fn integer(&mut self, s: &Value) -> Value {
        let lo = s.get("minimum").and_then(Value::as_f64).unwrap_or(-1e6).max(-1e15);
        let hi = s.get("maximum").and_then(Value::as_f64).unwrap_or(1e6).min(1e15);
        let x = match self.below(4) {
            0 => lo,
            1 => hi,
            _ => lo + (self.next() % ((hi - lo) as u64 + 1)) as f64,
        }
        .round();
        // JSON Schema's integer includes `7.0`: clients (and JSON encoders) send both.
        if self.chance(3) {
            json!(x)
        } else {
            json!(x as i64)
        }
    }

    fn number(&mut self, s: &Value) -> Value {
        let lo = s.get("minimum").and_then(Value::as_f64).unwrap_or(-1e6);
        let hi = s.get("maximum").and_then(Value::as_f64).unwrap_or(1e6);
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        match self.below(5) {
            0 => json!(lo),
            1 => json!(hi),
            2 => json!((lo + unit * (hi - lo)).floor() as i64),
            _ => json!(lo + unit * (hi - lo)),
        }
    }

    fn object(&mut self, doc: &Doc, s: &Value, depth: usize) -> Value {
        let mut out = Map::new();
        let required: Vec<&str> = s.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        match s.get("properties").and_then(Value::as_object) {
            Some(props) => {
                for (name, sub) in props {
                    if required.contains(&name.as_str()) || self.chance(2) {
                        out.insert(name.clone(), self.value(doc, sub, depth + 1));
                    }
                }
            }
            None if !s.get("additionalProperties").is_some_and(Value::is_object) => return self.any_json_object(depth),
            None => {}
        }
        if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
            let names = s.get("propertyNames").cloned().unwrap_or(json!({"type": "string", "maxLength": 16}));
            let room = s.get("maxProperties").and_then(Value::as_u64).unwrap_or(8) as usize;
            for _ in 0..self.below(4).min(room.saturating_sub(out.len())) {
                let name = self.value(doc, &names, depth + 1);
                out.insert(name.as_str().unwrap_or("k").to_string(), self.value(doc, extra, depth + 1));
            }
        }
        Value::Object(out)
    }

    fn any_json(&mut self, depth: usize) -> Value {
        match self.below(if depth > 2 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => Value::Bool(self.chance(2)),
            2 => json!(self.next() % 1000),
            3 => Value::String((0..self.below(12)).map(|_| self.char()).collect()),
            4 => Value::Array((0..self.below(3)).map(|_| self.any_json(depth + 1)).collect()),
            _ => self.any_json_object(depth),
        }
    }

    fn any_json_object(&mut self, depth: usize) -> Value {
        let entries: Vec<(String, Value)> = (0..self.below(4)).map(|i| (format!("k{i}"), self.any_json(depth + 1))).collect();
        Value::Object(entries.into_iter().collect())
    }

    /// A schema-invalid variant of `valid`, by one mutation of the body or of one parameter
    /// (one the validator confirms breaks the document), or None when none of the tries did.
    pub fn break_request(&mut self, doc: &Doc, op: &Operation, valid: &Req) -> Option<(Req, String)> {
        let targets = op.params.len() + usize::from(op.body.is_some());
        if targets == 0 {
            return None;
        }
        for _ in 0..40 {
            let mut req = valid.clone();
            let target = self.below(targets);
            if target < op.params.len() {
                let p = &op.params[target];
                if p.required && p.location != In::Path && self.chance(4) {
                    req.params.remove(&p.name);
                } else {
                    let current = req.params.get(&p.name).map(|(_, v)| v.clone()).unwrap_or_default();
                    let bad = self.bad_string(&current, p.location == In::Header);
                    req.params.insert(p.name.clone(), (p.location, bad));
                }
            } else {
                let body = req.body.take().unwrap_or(json!({}));
                req.body = Some(self.break_value(body));
            }
            if let Err(why) = doc.check_request(op, &req) {
                return Some((req, why));
            }
        }
        None
    }

    /// A string that breaks a string rule: too long, a character outside most patterns, empty.
    /// Header values stay what HTTP can carry.
    fn bad_string(&mut self, current: &str, header: bool) -> String {
        let long = format!("{current}{}", "x".repeat(300));
        let mut options = vec![long, String::new(), format!("{current}*"), "zz-not-a-value".into()];
        if !header {
            options.extend([format!("{current} x"), format!("{current}\u{7}"), format!("{current}/é")]);
        }
        self.pick(&options).clone()
    }

    /// One mutation of a JSON body: the whole body of the wrong type, a field removed, an unknown
    /// field added, or one field's value replaced by a wrong one.
    fn break_value(&mut self, body: Value) -> Value {
        let Value::Object(mut map) = body else { return json!({ "zz_unknown": 1 }) };
        let keys: Vec<String> = map.keys().cloned().collect();
        match self.below(6) {
            0 => return self.pick(&[json!([]), json!("body"), json!(1), Value::Null]).clone(),
            1 if !keys.is_empty() => {
                map.remove(self.pick(&keys));
            }
            2 => {
                map.insert("zz_unknown".into(), json!(1));
            }
            _ if !keys.is_empty() => {
                let key = self.pick(&keys).clone();
                let current = map[&key].clone();
                map.insert(key, self.wrong_value(&current));
            }
            _ => {
                map.insert("zz_unknown".into(), json!(true));
            }
        }
        Value::Object(map)
    }

    fn wrong_value(&mut self, current: &Value) -> Value {
        let mut options = vec![json!(true), json!(12345), json!(-1), json!(2.5), json!("zz"), json!(""), json!([]), json!({}), Value::Null, json!(1e300)];
        match current {
            Value::String(s) => options.extend([json!(format!("{s}{}", "x".repeat(300))), json!(format!("{s}\u{1}")), json!(format!(" {s} é"))]),
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(0.0);
                options.extend([json!(x + 0.5), json!(x + 1e6), json!(-x - 1.0)]);
            }
            Value::Object(m) => {
                let mut bigger = m.clone();
                for i in 0..40 {
                    bigger.insert(format!("k{i}"), json!(i));
                }
                options.extend([Value::Object(bigger), json!({ " bad key": "v" })]);
            }
            _ => {}
        }
        self.pick(&options).clone()
    }
}
