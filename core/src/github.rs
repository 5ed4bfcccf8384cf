//! What the Worker says to GitHub and reads back, beyond the retry policy: the dispatch body with
//! `return_run_details`, the run details of a 200, the fallback for servers that refuse the
//! field, the repository's API base (taken from `GITHUB_WORKFLOW_DISPATCH_URL`) for the runs and
//! cancel calls, and a run's state for the reconcile.

use crate::job::RunState;
use crate::message::ProvisionQueueMessage;
use crate::retry::{github_message, DispatchOutcome};
use serde_json::Value;

/// Whether a dispatch asks GitHub for the run it created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDetailsAsk {
    /// `"return_run_details": true` (github.com answers 200 with the run).
    Ask,
    /// The older body, for a server that refused the field.
    DontAsk,
}

/// `{"ref", "inputs", "return_run_details": true}`, or without the last field.
pub fn dispatch_body(msg: &ProvisionQueueMessage, git_ref: &str, ask: RunDetailsAsk) -> Value {
    let mut body = msg.dispatch_body(git_ref);
    if ask == RunDetailsAsk::Ask {
        body["return_run_details"] = Value::Bool(true);
    }
    body
}

/// A 400 or 422 whose message names `return_run_details`: an older GitHub Enterprise Server that
/// does not know the field. The dispatch is sent again at once without it.
pub fn refuses_run_details(outcome: &DispatchOutcome) -> bool {
    matches!(outcome, DispatchOutcome::Response { status: 400 | 422, message, .. } if message.contains("return_run_details"))
}

/// The run a dispatch created, from a 200's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDetails {
    /// Digits.
    pub workflow_run_id: String,
    /// `html_url`, else `run_url`.
    pub run_url: Option<String>,
}

/// `workflow_run_id` (a number or a digit string) and the URL; `None` when the body has no run.
pub fn run_details(body: &str) -> Option<RunDetails> {
    let v: Value = serde_json::from_str(body).ok()?;
    let id = match v.get("workflow_run_id")? {
        Value::Number(n) => n.as_u64()?.to_string(),
        Value::String(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => s.clone(),
        _ => return None,
    };
    let url = ["html_url", "run_url"].iter().find_map(|k| v.get(*k).and_then(Value::as_str)).filter(|u| u.len() <= 512).map(String::from);
    Some(RunDetails { workflow_run_id: id, run_url: url })
}

/// `{origin}/repos/{owner}/{repo}`, the base of the runs API, from the dispatch URL
/// (`{origin}/repos/{owner}/{repo}/actions/workflows/{file}/dispatches`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoApi {
    base: String,
}

impl RepoApi {
    pub fn from_dispatch_url(url: &str) -> Option<RepoApi> {
        let at = url.find("/repos/")?;
        let (origin, rest) = url.split_at(at);
        let mut parts = rest.trim_start_matches("/repos/").split('/');
        let (owner, repo) = (parts.next()?, parts.next()?);
        if owner.is_empty() || repo.is_empty() || parts.next() != Some("actions") {
            return None;
        }
        Some(RepoApi { base: format!("{origin}/repos/{owner}/{repo}") })
    }

    /// `GET` this: the run's status.
    pub fn run_url(&self, run_id: &str) -> String {
        format!("{}/actions/runs/{run_id}", self.base)
    }

    /// `POST` this: cancel the run.
    pub fn cancel_url(&self, run_id: &str) -> String {
        format!("{}/actions/runs/{run_id}/cancel", self.base)
    }
}

/// A runs API answer as a [`RunState`]; `Err` (with GitHub's message) when it says nothing
/// usable (a 5xx, a rate limit): the reconcile then asks again on its next pass.
pub fn run_state(status: u16, body: &str) -> Result<RunState, String> {
    match status {
        404 => Ok(RunState::NotFound),
        200 => {
            let v: Value = serde_json::from_str(body).map_err(|_| "run answer is not JSON".to_string())?;
            match v.get("status").and_then(Value::as_str) {
                Some("completed") => Ok(RunState::Completed { conclusion: v.get("conclusion").and_then(Value::as_str).unwrap_or("unknown").to_string() }),
                Some(_) => Ok(RunState::Unfinished),
                None => Err("run answer has no status".to_string()),
            }
        }
        other => Err(format!("github {other}: {}", github_message(body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RateLimitHeaders;

    fn message() -> ProvisionQueueMessage {
        ProvisionQueueMessage::parse(
            r#"{"job_id":"j","tenant_id":"t","region":"sg","create_new_server":"true","target_server_id":"","subdomain_slug":"s","canonical_hostname":"s.x.com","dedicated":"false","trace_id":"trace_1"}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_dispatch_body_asks_for_run_details_unless_refused() {
        let m = message();
        let asked = dispatch_body(&m, "main", RunDetailsAsk::Ask);
        assert_eq!(asked["return_run_details"], true);
        assert_eq!(asked.as_object().unwrap().len(), 3);
        let plain = dispatch_body(&m, "main", RunDetailsAsk::DontAsk);
        assert_eq!(plain, m.dispatch_body("main"));
        let refused =
            |status, msg: &str| refuses_run_details(&DispatchOutcome::response(status, RateLimitHeaders::default(), &format!(r#"{{"message":"{msg}"}}"#)));
        assert!(refused(422, "Invalid request.\n\n\"return_run_details\" is not a permitted key."));
        assert!(refused(400, "unknown field return_run_details"));
        assert!(!refused(422, "Unexpected inputs provided"));
        assert!(!refused(500, "return_run_details"));
    }

    #[test]
    fn run_details_of_a_200() {
        let d = run_details(r#"{"workflow_run_id":22041,"run_url":"https://api.github.com/repos/a/b/actions/runs/22041","html_url":"https://github.com/a/b/actions/runs/22041"}"#).unwrap();
        assert_eq!(d, RunDetails { workflow_run_id: "22041".into(), run_url: Some("https://github.com/a/b/actions/runs/22041".into()) });
        assert_eq!(run_details(r#"{"workflow_run_id":"7","run_url":"u"}"#).unwrap().run_url.as_deref(), Some("u"));
        for body in ["", "{}", r#"{"workflow_run_id":-1}"#, r#"{"workflow_run_id":"x1"}"#, r#"{"workflow_run_id":1.5}"#] {
            assert_eq!(run_details(body), None, "{body}");
        }
    }

    #[test]
    fn the_repository_api_comes_from_the_dispatch_url() {
        let api = RepoApi::from_dispatch_url("https://api.github.com/repos/acme/infra/actions/workflows/provision-tenant.yml/dispatches").unwrap();
        assert_eq!(api.run_url("5"), "https://api.github.com/repos/acme/infra/actions/runs/5");
        assert_eq!(api.cancel_url("5"), "https://api.github.com/repos/acme/infra/actions/runs/5/cancel");
        let local = RepoApi::from_dispatch_url("http://127.0.0.1:9/api/v3/repos/o/r/actions/workflows/x.yml/dispatches").unwrap();
        assert_eq!(local.run_url("1"), "http://127.0.0.1:9/api/v3/repos/o/r/actions/runs/1");
        assert_eq!(RepoApi::from_dispatch_url("http://127.0.0.1:9/dispatch"), None);
    }

    #[test]
    fn run_states() {
        assert_eq!(run_state(200, r#"{"status":"completed","conclusion":"failure"}"#), Ok(RunState::Completed { conclusion: "failure".into() }));
        assert_eq!(run_state(200, r#"{"status":"in_progress","conclusion":null}"#), Ok(RunState::Unfinished));
        assert_eq!(run_state(200, r#"{"status":"queued"}"#), Ok(RunState::Unfinished));
        assert_eq!(run_state(404, r#"{"message":"Not Found"}"#), Ok(RunState::NotFound));
        assert_eq!(run_state(502, ""), Err("github 502: ".into()));
        assert!(run_state(200, "nope").is_err());
    }
}
