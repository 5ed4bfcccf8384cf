//! One module per resource; each handler parses with `cp-core`, does its D1 work, and returns a
//! `Reply` or an `ApiError`.

pub mod jobs;
pub mod metrics;
pub mod nodes;
pub mod placement;
pub mod provision;
pub mod trace_events;
