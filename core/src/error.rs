//! The one error type of the control plane and its mapping to HTTP status and wire code.
//!
//! Every fallible path returns `ApiError`; the shell turns it into a response in one place, so a
//! status code or an error shape is never decided ad hoc in a route. Internal details (D1 messages,
//! panics, upstream bodies) are kept in `Internal` for the log and never reach the client.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// A field or the body is not what the contract allows (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// Missing or wrong credentials (401). Never says which.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A valid credential that does not cover this request (403): a node token outside its
    /// node's metrics push.
    #[error("this credential may not do that: a node token only pushes its own node's metrics")]
    Forbidden,
    /// Unknown route or resource (404).
    #[error("{message}")]
    NotFound { message: String },
    /// Known path, wrong method (405); `allow` lists the methods the path has.
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// The request conflicts with the state (409), e.g. an active job for the same tenant.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Body over the limit (413).
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Body sent with a content type other than JSON (415).
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    /// Well-formed but not processable (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String, field: Option<String> },
    /// The request is sound but must not be acted on now (503); `retry_after_s` becomes the
    /// `Retry-After` header. A fleet that looks blind is the case: ordering servers on it would
    /// cost money for a broken metrics pipeline.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String, retry_after_s: u32 },
    /// A setting the request needs is missing or malformed (500). Names the setting, never its value.
    #[error("setting {setting} is missing or malformed")]
    Misconfigured { setting: &'static str },
    /// Anything else (500). The detail is for the log only.
    #[error("internal error")]
    Internal { detail: String },
}

impl ApiError {
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code: "invalid_field", message: message.into(), field: Some(field.to_string()) }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into(), field: None }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound { message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict { code, message: message.into() }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::Internal { detail: detail.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Unavailable { .. } => 503,
            ApiError::Misconfigured { .. } | ApiError::Internal { .. } => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Unavailable { code, .. } => code,
            ApiError::Misconfigured { .. } => "misconfigured",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// The JSON body sent to the client: `{"error": {"code", "message", "field"?}}`.
    pub fn body(&self) -> ErrorBody {
        let field = match self {
            ApiError::BadRequest { field, .. } | ApiError::Unprocessable { field, .. } => field.clone(),
            ApiError::Misconfigured { setting } => Some(setting.to_string()),
            _ => None,
        };
        ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string(), field } }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let e = ApiError::internal("D1_ERROR: no such table: nodes");
        let body = serde_json::to_string(&e.body()).unwrap();
        assert_eq!(e.status(), 500);
        assert!(!body.contains("D1_ERROR"), "{body}");
    }

    #[test]
    fn misconfigured_names_the_setting() {
        let e = ApiError::Misconfigured { setting: "INTERNAL_API_KEY" };
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["error"]["code"], "misconfigured");
        assert_eq!(body["error"]["field"], "INTERNAL_API_KEY");
    }

    #[test]
    fn statuses_follow_the_contract() {
        let cases: &[(ApiError, u16)] = &[
            (ApiError::bad_field("x", "m"), 400),
            (ApiError::Unauthorized, 401),
            (ApiError::Forbidden, 403),
            (ApiError::not_found("m"), 404),
            (ApiError::MethodNotAllowed { allow: "GET" }, 405),
            (ApiError::conflict("c", "m"), 409),
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
            (ApiError::UnsupportedMediaType, 415),
            (ApiError::Unavailable { code: "c", message: "m".into(), retry_after_s: 60 }, 503),
        ];
        for (e, status) in cases {
            assert_eq!(e.status(), *status, "{e:?}");
        }
    }
}
