//! `openapi.json` read as data: its operations (parameters, body, documented responses) and a
//! validator for the part of JSON Schema 2020-12 (as OpenAPI 3.1 uses it) that the document
//! uses, so the contract suite can say of any request or answer whether the document allows it.
//!
//! The validator knows the keywords the document uses and panics on any other, so a schema it
//! cannot judge never passes silently: a new keyword in openapi.json is implemented here first.

use crate::support::pct_encode;
use regex::Regex;
use serde_json::{Map, Value};
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
