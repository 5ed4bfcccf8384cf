//! D1 access: binding helpers and the conversion of D1 failures into `ApiError::Internal` (logged,
//! never shown). Row types live next to the queries that read them, in the route modules; they
//! are converted into core types before any logic runs ("D1 row types are not API types").

use cp_core::ApiError;
use serde::de::DeserializeOwned;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, wasm_bindgen_futures};
use worker::{D1Database, D1PreparedStatement, D1Result, Env};

pub fn database(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB").map_err(|_| ApiError::Misconfigured { setting: "DB" })
}

/// Turns any D1/JS failure into an internal error carrying `context` for the log.
pub trait OrInternal<T> {
    fn or_internal(self, context: &str) -> Result<T, ApiError>;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self, context: &str) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::internal(format!("{context}: {e}")))
    }
}

/// Prepares and binds a statement. Values are always bound, never spliced into SQL text.
pub fn stmt(db: &D1Database, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement, ApiError> {
    db.prepare(sql).bind(args).or_internal("bind")
}

/// All rows as `T`. The rows cross from JS to WASM as one JSON string (`JSON.stringify` in
/// V8, `serde_json` here) rather than property by property: for a 10,000-node fleet that is the
/// difference between a few milliseconds and tens of them.
pub async fn all<T: DeserializeOwned>(s: D1PreparedStatement, context: &str) -> Result<Vec<T>, ApiError> {
    let result = await_js(s.inner().all(), context).await?;
    let rows = js_sys::Reflect::get(&result, &JsValue::from_str("results")).map_err(|e| js_error(context, &e))?;
    from_js_json(&rows, context)
}

/// All rows as arrays (`T` is a tuple in column order): smaller than objects to move and parse.
pub async fn raw<T: DeserializeOwned>(s: D1PreparedStatement, context: &str) -> Result<Vec<T>, ApiError> {
    let rows = await_js(s.inner().raw(), context).await?;
    from_js_json(&rows, context)
}

/// The first column of every row, each a string (SQL that builds its own JSON text): copied
/// once from JS, with no `JSON.stringify` round trip.
pub async fn texts(s: D1PreparedStatement, context: &str) -> Result<Vec<String>, ApiError> {
    let rows = await_js(s.inner().raw(), context).await?;
    if rows.is_undefined() || rows.is_null() {
        return Ok(Vec::new());
    }
    let rows: js_sys::Array = rows.dyn_into().map_err(|e| js_error(context, &e))?;
    rows.iter()
        .map(|row| {
            let row: js_sys::Array = row.dyn_into().map_err(|e| js_error(context, &e))?;
            row.get(0).as_string().ok_or_else(|| ApiError::internal(format!("{context}: the column is not text")))
        })
        .collect()
}

async fn await_js(promise: Result<js_sys::Promise, JsValue>, context: &str) -> Result<JsValue, ApiError> {
    let promise = promise.map_err(|e| js_error(context, &e))?;
    wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| js_error(context, &e))
}

fn from_js_json<T: DeserializeOwned>(value: &JsValue, context: &str) -> Result<Vec<T>, ApiError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    let text: String = js_sys::JSON::stringify(value).map_err(|e| js_error(context, &e))?.into();
    serde_json::from_str(&text).or_internal(context)
}

fn js_error(context: &str, e: &JsValue) -> ApiError {
    let message = e.dyn_ref::<js_sys::Error>().map(|err| String::from(err.message())).unwrap_or_else(|| format!("{e:?}"));
    ApiError::internal(format!("{context}: {message}"))
}

pub async fn first<T: DeserializeOwned>(s: D1PreparedStatement, context: &str) -> Result<Option<T>, ApiError> {
    s.first::<T>(None).await.or_internal(context)
}

/// Runs a statement and returns the number of rows it changed (see [`changes`]).
pub async fn run(s: D1PreparedStatement, context: &str) -> Result<usize, ApiError> {
    changes(&s.run().await.or_internal(context)?)
}

/// Runs statements as one transaction (D1 has no BEGIN/COMMIT; a batch is atomic).
pub async fn batch(db: &D1Database, stmts: Vec<D1PreparedStatement>, context: &str) -> Result<Vec<D1Result>, ApiError> {
    db.batch(stmts).await.or_internal(context)
}

/// The rows a statement changed, counting those its triggers wrote (D1 reports them together:
/// a job inserted with its fleet stamp is 3), so a caller compares with 0 and nothing else.
pub fn changes(result: &D1Result) -> Result<usize, ApiError> {
    Ok(result.meta().or_internal("meta")?.and_then(|m| m.changes).unwrap_or(0))
}

pub fn text(v: &str) -> JsValue {
    JsValue::from_str(v)
}

pub fn opt_text(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

pub fn int(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

pub fn opt_num(v: Option<f64>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_f64)
}
