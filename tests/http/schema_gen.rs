//! Requests drawn from `openapi.json` itself, and a validator for the JSON Schema it uses, so the
//! contract suite can hold the Worker to the document without a list of its own.
//!
//! Only the document decides what a request may be: parameters and bodies are generated from the
//! operations' schemas (strings from their `pattern`, numbers within their bounds, whole numbers
//! sometimes written as `7.0`, optional fields sometimes left out), and broken on purpose by
//! mutations (a wrong type, a value past its bound, a missing required field, an unknown one). The
//! validator, not the generator, then says whether a request is schema-valid, so a generator that
//! misses a rule only shifts the mix. The validator knows the keywords the document uses and
//! panics on any other, so a schema it cannot judge never passes silently.

use crate::support::pct_encode;
use proptest::strategy::{Strategy, ValueTree};
use proptest::string::{string_regex, RegexGeneratorStrategy};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Keywords the validator ignores because they assert nothing.
const ANNOTATIONS: [&str; 6] = ["description", "examples", "default", "deprecated", "title", "example"];

pub struct Doc {
    root: Value,
    regexes: RefCell<HashMap<String, Regex>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
    Header,
}

pub struct Param {
    pub name: String,
    pub location: In,
    pub required: bool,
    pub schema: Value,
}

pub struct Operation {
    pub id: String,
    pub method: String,
    pub path: String,
    pub params: Vec<Param>,
    /// The JSON body's schema and whether the body is required.
    pub body: Option<(Value, bool)>,
    /// Status -> (the JSON body's schema, if any; headers marked `required`).
    pub responses: BTreeMap<u16, (Option<Value>, Vec<String>)>,
}

/// One generated request, kept as values so a fix-up can change it and a failure can print it.
#[derive(Debug, Clone)]
pub struct Req {
    pub params: BTreeMap<String, (In, String)>,
    pub body: Option<Value>,
}

impl Doc {
    pub fn load() -> Doc {
        let text = std::fs::read_to_string(crate::harness::repo().join("openapi.json")).expect("read openapi.json");
        Doc { root: serde_json::from_str(&text).expect("openapi.json is JSON"), regexes: RefCell::new(HashMap::new()) }
    }

    /// Follows `$ref`s (local, `#/...`) until a value that is not one.
    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = self.root.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved $ref {r}"));
        }
        v
    }

    pub fn operations(&self) -> Vec<Operation> {
        let mut out = Vec::new();
        for (path, item) in self.root["paths"].as_object().expect("paths") {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let params = [&item["parameters"], &op["parameters"]]
                    .into_iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .map(|p| {
                        let p = self.resolve(p);
                        let location = match p["in"].as_str() {
                            Some("path") => In::Path,
                            Some("query") => In::Query,
                            Some("header") => In::Header,
                            other => panic!("{method} {path}: parameter location {other:?} is not generated"),
                        };
                        Param { name: p["name"].as_str().unwrap().to_string(), location, required: p["required"] == true, schema: p["schema"].clone() }
                    })
                    .collect();
                let body = op.get("requestBody").map(|b| {
                    let b = self.resolve(b);
                    (b["content"]["application/json"]["schema"].clone(), b["required"] == true)
                });
                let responses = op["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(status, r)| {
                        let r = self.resolve(r);
                        let schema = r.pointer("/content/application~1json/schema").cloned();
                        let headers = r["headers"]
                            .as_object()
                            .map(|h| h.iter().filter(|(_, v)| self.resolve(v)["required"] == true).map(|(k, _)| k.to_ascii_lowercase()).collect())
                            .unwrap_or_default();
                        (status.parse().unwrap_or_else(|_| panic!("{method} {path}: status {status} is not a number")), (schema, headers))
                    })
                    .collect();
                let id = op["operationId"].as_str().unwrap().to_string();
                out.push(Operation { id, method: method.to_uppercase(), path: path.clone(), params, body, responses });
            }
        }
        out
    }

    /// Whether a request is what `op` documents: every required parameter present and each
    /// parameter and the body valid against its schema.
    pub fn check_request(&self, op: &Operation, req: &Req) -> Result<(), String> {
        for p in &op.params {
            match req.params.get(&p.name) {
                None if p.required => return Err(format!("required parameter {} is missing", p.name)),
                None => {}
                Some((_, v)) => self.check(&p.schema, &Value::String(v.clone())).map_err(|e| format!("parameter {}: {e}", p.name))?,
            }
        }
        match (&op.body, &req.body) {
            (Some((_, true)), None) => Err("the body is required".into()),
            (Some((schema, _)), Some(body)) => self.check(schema, body).map_err(|e| format!("body: {e}")),
            (None, Some(_)) => Err("the operation takes no body".into()),
            _ => Ok(()),
        }
    }

    /// Validates `v` against `schema`; the error names where (a JSON pointer) and why.
    pub fn check(&self, schema: &Value, v: &Value) -> Result<(), String> {
        self.check_at(schema, v, "")
    }

    fn check_at(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let fail = |why: String| Err(format!("{}: {why}", if at.is_empty() { "/" } else { at }));
        let Some(s) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(()),
                _ => fail("no value is allowed here".into()),
            };
        };
        for (k, kw) in s {
            match k.as_str() {
                "$ref" => self.check_at(self.resolve(schema), v, at)?,
                "type" => {
                    let types: Vec<&str> = match kw {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => panic!("bad type keyword {kw}"),
                    };
                    if !types.iter().any(|t| has_type(v, t)) {
                        return fail(format!("{v} is not of type {types:?}"));
                    }
                }
                "enum" if !kw.as_array().unwrap().contains(v) => return fail(format!("{v} is not one of {kw}")),
                "const" if kw != v => return fail(format!("{v} is not {kw}")),
                "pattern" | "minLength" | "maxLength" | "format" => {
                    let Some(text) = v.as_str() else { continue };
                    let n = text.chars().count() as u64;
                    let ok = match k.as_str() {
                        "pattern" => self.regex(kw.as_str().unwrap()).is_match(text),
                        "minLength" => n >= kw.as_u64().unwrap(),
                        "maxLength" => n <= kw.as_u64().unwrap(),
                        _ => self.format_ok(kw.as_str().unwrap(), text),
                    };
                    if !ok {
                        return fail(format!("{v} fails {k} {kw}"));
                    }
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    let Some(x) = v.as_f64() else { continue };
                    let bound = kw.as_f64().unwrap();
                    let ok = match k.as_str() {
                        "minimum" => x >= bound,
                        "maximum" => x <= bound,
                        "exclusiveMinimum" => x > bound,
                        _ => x < bound,
                    };
                    if !ok {
                        return fail(format!("{v} fails {k} {kw}"));
                    }
                }
                "properties" | "required" | "additionalProperties" | "propertyNames" | "maxProperties" | "minProperties" => {
                    let Some(obj) = v.as_object() else { continue };
                    self.check_object(s, k, kw, obj, at)?;
                }
                "items" | "maxItems" | "minItems" | "uniqueItems" => {
                    let Some(items) = v.as_array() else { continue };
                    match k.as_str() {
                        "items" => {
                            for (i, item) in items.iter().enumerate() {
                                self.check_at(kw, item, &format!("{at}/{i}"))?;
                            }
                        }
                        "maxItems" if items.len() as u64 > kw.as_u64().unwrap() => return fail(format!("more than {kw} items")),
                        "minItems" if (items.len() as u64) < kw.as_u64().unwrap() => return fail(format!("fewer than {kw} items")),
                        "uniqueItems" if *kw == true && items.iter().enumerate().any(|(i, x)| items[..i].contains(x)) => return fail("items repeat".into()),
                        _ => {}
                    }
                }
                "allOf" => {
                    for sub in kw.as_array().unwrap() {
                        self.check_at(sub, v, at)?;
                    }
                }
                "anyOf" => {
                    let errors: Vec<String> = kw.as_array().unwrap().iter().filter_map(|sub| self.check_at(sub, v, at).err()).collect();
                    if errors.len() == kw.as_array().unwrap().len() {
                        return fail(format!("matches none of anyOf: {}", errors.join("; ")));
                    }
                }
                "oneOf" => {
                    let matching = kw.as_array().unwrap().iter().filter(|sub| self.check_at(sub, v, at).is_ok()).count();
                    if matching != 1 {
                        return fail(format!("matches {matching} branches of oneOf, not 1"));
                    }
                }
                "not" if self.check_at(kw, v, at).is_ok() => return fail(format!("matches not: {kw}")),
                "if" => {
                    let branch = if self.check_at(kw, v, at).is_ok() { s.get("then") } else { s.get("else") };
                    if let Some(b) = branch {
                        self.check_at(b, v, at)?;
                    }
                }
                "then" | "else" | "enum" | "const" | "not" => {}
                k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
                other => panic!("openapi.json uses the schema keyword {other:?}, which tests/http/schema_gen.rs does not implement: add it there"),
            }
        }
        Ok(())
    }

    fn check_object(&self, s: &Map<String, Value>, k: &str, kw: &Value, obj: &Map<String, Value>, at: &str) -> Result<(), String> {
        let fail = |why: String| Err(format!("{}: {why}", if at.is_empty() { "/" } else { at }));
        match k {
            "properties" => {
                for (name, sub) in kw.as_object().unwrap() {
                    if let Some(x) = obj.get(name) {
                        self.check_at(sub, x, &format!("{at}/{name}"))?;
                    }
                }
            }
            "required" => {
                if let Some(missing) = kw.as_array().unwrap().iter().filter_map(Value::as_str).find(|r| !obj.contains_key(*r)) {
                    return fail(format!("required property {missing} is missing"));
                }
            }
            "additionalProperties" => {
                let declared = s.get("properties").and_then(Value::as_object);
                for (name, x) in obj {
                    if !declared.is_some_and(|d| d.contains_key(name)) {
                        self.check_at(kw, x, &format!("{at}/{name}")).map_err(|e| format!("{e} (additional property {name:?})"))?;
                    }
                }
            }
            "propertyNames" => {
                for name in obj.keys() {
                    self.check_at(kw, &Value::String(name.clone()), &format!("{at}/{name}")).map_err(|e| format!("property name: {e}"))?;
                }
            }
            "maxProperties" if obj.len() as u64 > kw.as_u64().unwrap() => return fail(format!("more than {kw} properties")),
            "minProperties" if (obj.len() as u64) < kw.as_u64().unwrap() => return fail(format!("fewer than {kw} properties")),
            _ => {}
        }
        Ok(())
    }

    fn format_ok(&self, format: &str, s: &str) -> bool {
        match format {
            "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
            "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
            "date-time" => self.regex(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$").is_match(s),
            // `hostname` always comes with the pattern that states the Worker's rule.
            "hostname" => true,
            other => panic!("format {other} is not implemented in tests/http/schema_gen.rs"),
        }
    }

    fn regex(&self, pattern: &str) -> Regex {
        let mut cache = self.regexes.borrow_mut();
        cache.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))).clone()
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        // JSON Schema: an integer is any number without a fractional part (`7.0` included).
        "integer" => v.is_u64() || v.is_i64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => panic!("unknown type {other}"),
    }
}

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

impl Req {
    /// The path with its parameters filled in, and the query string.
    pub fn target(&self, op: &Operation) -> String {
        let mut path = op.path.clone();
        let mut query = Vec::new();
        for (name, (location, value)) in &self.params {
            match location {
                In::Path => path = path.replace(&format!("{{{name}}}"), &pct_encode(value)),
                In::Query => query.push(format!("{}={}", pct_encode(name), pct_encode(value))),
                In::Header => {}
            }
        }
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        self.params.iter().filter(|(_, (l, _))| *l == In::Header).map(|(n, (_, v))| (n.clone(), v.clone())).collect()
    }
}
