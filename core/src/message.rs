//! The ProvisionQueueMessage: what the enqueue route puts on the queue and what the consumer hands
//! to GitHub's `workflow_dispatch` as `inputs`.
//!
//! The wire shape is fixed by the field-mapping seed: exactly nine fields, every value a string
//! (booleans as `"true"`/`"false"`, no target as `""`), because workflow_dispatch inputs are
//! strings and a flat object of strings survives `Queue::send` unchanged.
//!
//! Architecture invariant: a message that passes [`ProvisionQueueMessage::parse`] (or
//! [`ProvisionQueueMessage::validate`]) names a known region, has booleans the workflow can read,
//! and names a target server exactly when it does not create a new one. The consumer may rely on
//! that and never re-checks.

use crate::domain::Region;
use serde::{Deserialize, Serialize};

/// The queue message, field for field as the seed names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionQueueMessage {
    pub job_id: String,
    pub tenant_id: String,
    pub region: String,
    pub create_new_server: String,
    pub target_server_id: String,
    pub subdomain_slug: String,
    pub canonical_hostname: String,
    pub dedicated: String,
    pub trace_id: String,
}

/// The typed values a message is built from (a struct rather than nine positional arguments, so
/// two `&str` cannot be swapped silently at the call site).
#[derive(Debug, Clone, Copy)]
pub struct NewProvisionMessage<'a> {
    pub job_id: &'a str,
    pub tenant_id: &'a str,
    pub region: Region,
    pub create_new_server: bool,
    /// `Some(node_id)` exactly when `create_new_server` is false.
    pub target_server_id: Option<&'a str>,
    pub subdomain_slug: &'a str,
    pub canonical_hostname: &'a str,
    pub dedicated: bool,
    pub trace_id: &'a str,
}

/// Why a message was refused. The text names the field and never echoes more than the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not JSON, not an object, a missing or unknown field, or a value that is not a string.
    #[error("not a provision message: {0}")]
    Malformed(String),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("region must be one of sg, us, eu, not {value:?}")]
    UnknownRegion { value: String },
    #[error("{field} must be \"true\" or \"false\", not {value:?}")]
    NotBoolean { field: &'static str, value: String },
    #[error("create_new_server is \"false\" but target_server_id is empty")]
    MissingTarget,
    #[error("create_new_server is \"true\" but target_server_id is {target:?}")]
    UnexpectedTarget { target: String },
}

impl ProvisionQueueMessage {
    /// Builds the wire message and checks it like [`parse`](Self::parse) does, so a message that
    /// the consumer would refuse is never sent (`Some("")` counts as no target).
    pub fn new(args: NewProvisionMessage<'_>) -> Result<Self, MessageError> {
        let message = ProvisionQueueMessage {
            job_id: args.job_id.to_string(),
            tenant_id: args.tenant_id.to_string(),
            region: args.region.as_str().to_string(),
            create_new_server: bool_str(args.create_new_server).to_string(),
            target_server_id: args.target_server_id.unwrap_or_default().to_string(),
            subdomain_slug: args.subdomain_slug.to_string(),
            canonical_hostname: args.canonical_hostname.to_string(),
            dedicated: bool_str(args.dedicated).to_string(),
            trace_id: args.trace_id.to_string(),
        };
        message.validate()?;
        Ok(message)
    }

    /// Reads a message from its JSON text and checks the invariants the consumer relies on.
    pub fn parse(json: &str) -> Result<Self, MessageError> {
        let message: Self = serde_json::from_str(json).map_err(|e| MessageError::Malformed(e.to_string()))?;
        message.validate()?;
        Ok(message)
    }

    /// The invariants: ids present, a known region, two booleans, and a target exactly when no
    /// new server is created.
    pub fn validate(&self) -> Result<(), MessageError> {
        for (field, value) in [("job_id", &self.job_id), ("tenant_id", &self.tenant_id), ("trace_id", &self.trace_id)] {
            if value.trim().is_empty() {
                return Err(MessageError::Empty { field });
            }
        }
        if Region::parse("region", &self.region).is_err() {
            return Err(MessageError::UnknownRegion { value: self.region.clone() });
        }
        let create_new_server = parse_bool("create_new_server", &self.create_new_server)?;
        parse_bool("dedicated", &self.dedicated)?;
        match (create_new_server, self.target_server_id.is_empty()) {
            (false, true) => Err(MessageError::MissingTarget),
            (true, false) => Err(MessageError::UnexpectedTarget { target: self.target_server_id.clone() }),
            _ => Ok(()),
        }
    }

    /// The body of GitHub's `POST .../actions/workflows/{id}/dispatches`:
    /// `{"ref": git_ref, "inputs": {the nine fields as strings}}`.
    pub fn dispatch_body(&self, git_ref: &str) -> serde_json::Value {
        serde_json::json!({ "ref": git_ref, "inputs": self })
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn parse_bool(field: &'static str, value: &str) -> Result<bool, MessageError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(MessageError::NotBoolean { field, value: value.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const FIELDS: [&str; 9] =
        ["job_id", "tenant_id", "region", "create_new_server", "target_server_id", "subdomain_slug", "canonical_hostname", "dedicated", "trace_id"];

    fn args(target: Option<&str>) -> NewProvisionMessage<'_> {
        NewProvisionMessage {
            job_id: "job_1",
            tenant_id: "acme",
            region: Region::Sg,
            create_new_server: target.is_none(),
            target_server_id: target,
            subdomain_slug: "acme",
            canonical_hostname: "acme.pregoi.com",
            dedicated: false,
            trace_id: "trace_1",
        }
    }

    fn existing() -> ProvisionQueueMessage {
        ProvisionQueueMessage::new(args(Some("hz-sg-3"))).unwrap()
    }

    /// A valid message as JSON with one field replaced (or removed when `value` is null).
    fn with(field: &str, value: Value) -> String {
        let mut v = serde_json::to_value(existing()).unwrap();
        if value.is_null() {
            v.as_object_mut().unwrap().remove(field);
        } else {
            v[field] = value;
        }
        v.to_string()
    }

    #[test]
    fn serialized_message_has_exactly_the_nine_fields_all_strings() {
        let v = serde_json::to_value(existing()).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut expected = FIELDS.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(obj.values().all(Value::is_string), "{v}");
    }

    #[test]
    fn typed_values_become_the_wire_strings() {
        let m = existing();
        assert_eq!((m.region.as_str(), m.create_new_server.as_str(), m.dedicated.as_str()), ("sg", "false", "false"));
        assert_eq!(m.target_server_id, "hz-sg-3");

        let m = ProvisionQueueMessage::new(NewProvisionMessage { dedicated: true, region: Region::Eu, ..args(None) }).unwrap();
        assert_eq!((m.region.as_str(), m.create_new_server.as_str(), m.dedicated.as_str()), ("eu", "true", "true"));
        assert_eq!(m.target_server_id, "");
    }

    #[test]
    fn round_trips_through_json() {
        for m in [existing(), ProvisionQueueMessage::new(args(None)).unwrap()] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(ProvisionQueueMessage::parse(&text).unwrap(), m);
        }
    }

    #[test]
    fn constructor_refuses_what_the_consumer_would_refuse() {
        let cases = [
            (NewProvisionMessage { create_new_server: false, ..args(None) }, MessageError::MissingTarget),
            (NewProvisionMessage { create_new_server: false, ..args(Some("")) }, MessageError::MissingTarget),
            (NewProvisionMessage { create_new_server: true, ..args(Some("hz-sg-3")) }, MessageError::UnexpectedTarget { target: "hz-sg-3".into() }),
            (NewProvisionMessage { job_id: "", ..args(None) }, MessageError::Empty { field: "job_id" }),
        ];
        for (a, err) in cases {
            assert_eq!(ProvisionQueueMessage::new(a).unwrap_err(), err, "{a:?}");
        }
    }

    #[test]
    fn invalid_messages_are_refused_with_a_clear_error() {
        let cases: Vec<(String, MessageError)> = vec![
            (with("target_server_id", json!("")), MessageError::MissingTarget),
            (with("create_new_server", json!("true")), MessageError::UnexpectedTarget { target: "hz-sg-3".into() }),
            (with("create_new_server", json!("True")), MessageError::NotBoolean { field: "create_new_server", value: "True".into() }),
            (with("dedicated", json!("")), MessageError::NotBoolean { field: "dedicated", value: "".into() }),
            (with("region", json!("SG")), MessageError::UnknownRegion { value: "SG".into() }),
            (with("tenant_id", json!(" ")), MessageError::Empty { field: "tenant_id" }),
            (with("trace_id", json!("")), MessageError::Empty { field: "trace_id" }),
        ];
        for (text, err) in cases {
            assert_eq!(ProvisionQueueMessage::parse(&text).unwrap_err(), err, "{text}");
        }
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        let cases = [
            with("surprise", json!("x")),           // unknown field
            with("dedicated", Value::Null),         // missing field
            with("create_new_server", json!(true)), // a JSON boolean, not a string
            with("job_id", json!(7)),
            "[]".to_string(),
            "not json".to_string(),
        ];
        for text in cases {
            let err = ProvisionQueueMessage::parse(&text).unwrap_err();
            assert!(matches!(err, MessageError::Malformed(_)), "{text}: {err:?}");
        }
        let err = ProvisionQueueMessage::parse(&with("surprise", json!("x"))).unwrap_err();
        assert!(err.to_string().contains("surprise"), "{err}");
    }

    #[test]
    fn dispatch_body_is_ref_plus_the_nine_string_inputs() {
        let m = existing();
        let body = m.dispatch_body("main");
        assert_eq!(body.as_object().unwrap().len(), 2);
        assert_eq!(body["ref"], "main");
        assert_eq!(body["inputs"], serde_json::to_value(&m).unwrap());
        let inputs = body["inputs"].as_object().unwrap();
        assert_eq!(inputs.len(), 9);
        assert!(inputs.values().all(Value::is_string));
        assert_eq!(body["inputs"]["create_new_server"], "false");
        assert_eq!(body["inputs"]["target_server_id"], "hz-sg-3");
    }
}
