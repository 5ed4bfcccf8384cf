//! Keeps `openapi.json` honest: it documents exactly the Worker's routes (`cp_core::routes::ROUTES`),
//! every operation is complete enough for a client generator, and every reference resolves.
//!
//! The document's schemas are not checked against live answers here: the HTTP contract suite
//! (`tests/http/contract.rs`) does that; this file only guards the document's shape against drift.

use cp_core::routes::ROUTES;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn doc() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is valid JSON")
}

/// Every operation as (METHOD, path, path item, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value, &Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_uppercase(), path.clone(), item, op));
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved $ref {r}")),
        None => v,
    }
}

#[test]
fn documents_exactly_the_route_table() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _, _)| (m, p)).collect();
    let routed: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "openapi.json and ROUTES disagree\n  in ROUTES but not in openapi.json: {undocumented:?}\n  in openapi.json but not in ROUTES: {unrouted:?}"
    );
}

#[test]
fn every_operation_is_complete_and_internal_ones_need_the_bearer_key() {
    let doc = doc();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")), "not OpenAPI 3.1.x: {}", doc["openapi"]);
    let global_bearer = doc["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer", "no bearer security scheme");

    let mut ids = BTreeSet::new();
    for (method, path, _, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(ids.insert(id.to_string()), "{what}: operationId {id} is not unique");

        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{what}: no responses"));
        assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no 2xx response");

        if path.starts_with("/internal/") {
            let bearer = match op.get("security").and_then(Value::as_array) {
                Some(reqs) => reqs.iter().any(|r| r.get("bearer").is_some()),
                None => global_bearer,
            };
            assert!(bearer, "{what}: does not require the bearer key");
            assert!(responses.contains_key("401"), "{what}: no 401 response");
        } else {
            assert_eq!(op["security"], serde_json::json!([]), "{what}: an open route must say `security: []`");
        }
    }
}

#[test]
fn every_ref_resolves_to_a_component() {
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r);
                }
                map.values().for_each(|child| walk(child, refs));
            }
            Value::Array(items) => items.iter().for_each(|child| walk(child, refs)),
            _ => {}
        }
    }
    let doc = doc();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    let broken: Vec<_> = refs.into_iter().filter(|r| !r.starts_with("#/components/") || doc.pointer(r.trim_start_matches('#')).is_none()).collect();
    assert!(broken.is_empty(), "$refs that name no component: {broken:?}");
}

#[test]
fn every_path_parameter_is_declared() {
    let doc = doc();
    for (method, path, item, op) in operations(&doc) {
        let declared: BTreeSet<&str> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path" && p["required"] == true)
            .filter_map(|p| p["name"].as_str())
            .collect();
        let used = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'));
        for name in used {
            assert!(declared.contains(name), "{method} {path}: path parameter {{{name}}} is not declared (in: path, required: true)");
        }
    }
}
