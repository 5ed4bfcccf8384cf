//! Every way a run can fail, and the one place that turns each into an exit code.
//!
//! The exit code is what systemd, monitoring and the lead's tests look at, so it is decided here
//! and nowhere else; the message goes into the run's single log line.

/// Exit codes; documented in the README.
pub const EXIT_OK: i32 = 0;
pub const EXIT_CONFIG: i32 = 2;
pub const EXIT_REJECTED: i32 = 3;
pub const EXIT_UNREACHABLE: i32 = 4;
pub const EXIT_MEASURE: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// Bad flags. The only error printed to stderr, because without valid flags there is no
    /// config to name in a log line.
    Usage(String),
    /// The config file or an override is missing or invalid.
    Config(String),
    /// The key file is missing, unreadable, empty or readable by others.
    Key(String),
    /// A metric or the tenant count could not be taken; nothing is sent, because a guessed 0
    /// would mislead placement (a stale node is ignored, a wrong one is trusted).
    Measure(String),
    /// The control plane answered with a status that will not change by retrying.
    Rejected { message: String, status: u16, detail: Option<String>, attempts: u32 },
    /// Network errors, timeouts, 429 or 5xx on every attempt.
    Unreachable { message: String, attempts: u32 },
}

impl AgentError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AgentError::Usage(_) | AgentError::Config(_) | AgentError::Key(_) => EXIT_CONFIG,
            AgentError::Measure(_) => EXIT_MEASURE,
            AgentError::Rejected { .. } => EXIT_REJECTED,
            AgentError::Unreachable { .. } => EXIT_UNREACHABLE,
        }
    }

    /// A stable word for log queries (`error_kind="rejected"`), independent of message wording.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::Usage(_) => "usage",
            AgentError::Config(_) => "config",
            AgentError::Key(_) => "key",
            AgentError::Measure(_) => "measure",
            AgentError::Rejected { .. } => "rejected",
            AgentError::Unreachable { .. } => "unreachable",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            AgentError::Usage(m)
            | AgentError::Config(m)
            | AgentError::Key(m)
            | AgentError::Measure(m)
            | AgentError::Rejected { message: m, .. }
            | AgentError::Unreachable { message: m, .. } => m,
        }
    }

    pub fn attempts(&self) -> u32 {
        match self {
            AgentError::Rejected { attempts, .. } | AgentError::Unreachable { attempts, .. } => *attempts,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let s = || "x".to_string();
        for (e, code) in [
            (AgentError::Usage(s()), 2),
            (AgentError::Config(s()), 2),
            (AgentError::Key(s()), 2),
            (AgentError::Measure(s()), 5),
            (AgentError::Rejected { message: s(), status: 401, detail: None, attempts: 1 }, 3),
            (AgentError::Unreachable { message: s(), attempts: 4 }, 4),
        ] {
            assert_eq!(e.exit_code(), code, "{e:?}");
        }
    }
}
