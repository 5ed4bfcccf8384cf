//! Structured log lines: one JSON object per line, so `wrangler tail` and log search can filter
//! on `request_id`, `trace_id` and `job_id`. Nothing secret is ever passed in here.

use serde_json::{Map, Value};

/// Writes one JSON log line.
pub fn line(level: &str, msg: &str, fields: Map<String, Value>) {
    let mut obj = Map::new();
    obj.insert("level".into(), level.into());
    obj.insert("msg".into(), msg.into());
    obj.extend(fields);
    worker::console_log!("{}", Value::Object(obj));
}

/// Builds the field map of a log line from `(name, value)` pairs, skipping nulls.
#[macro_export]
macro_rules! log_fields {
    ($($k:literal => $v:expr),* $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( let v = serde_json::json!($v); if !v.is_null() { m.insert($k.to_string(), v); } )*
        m
    }};
}
