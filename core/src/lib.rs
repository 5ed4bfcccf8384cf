//! The pure core of the control plane.
//!
//! Everything here is plain Rust with no I/O and no `worker` types, so every rule of the contract
//! (validation, placement, stack naming, the queue message, the retry policy) is tested with
//! `cargo test` on the host. The Worker crate at the repository root is a thin shell that reads
//! requests, D1 and the queue, calls into this crate, and writes the answers.

pub mod auth;
pub mod config;
pub mod cursor;
pub mod domain;
pub mod error;
pub mod fleet_view;
pub mod github;
pub mod ids;
pub mod job;
pub mod job_requests;
pub mod json;
pub mod nodes;
pub mod provision;
pub mod routes;
pub mod time;
pub mod trace_events;
pub mod url_rule;

pub use error::ApiError;
pub mod message;
pub mod node_token;
pub mod placement;
pub mod prometheus;
pub mod retry;
pub mod stack;
