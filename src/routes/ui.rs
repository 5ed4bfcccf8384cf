//! `GET /ui`, `/ui/app.js`, `/ui/app.css`: the operator's page, shipped inside the Worker.
//!
//! Served without auth because it holds no data: the page asks for the admin key, keeps it in
//! `sessionStorage`, and calls the `/internal/*` routes with it like any other client. The only
//! values filled in at serve time are the contract's closed vocabularies (regions, tiers, job
//! statuses) and `DEFAULT_REGION`, all enum wire strings, so nothing from a request or from D1
//! ever reaches the HTML. The script and the style sheet are files of their own, so the page's
//! Content-Security-Policy (set in `http.rs`) allows no inline code.

use crate::ctx::{BodyKind, Ctx, Reply};
use cp_core::domain::{JobStatus, PlanTier, Region};
use cp_core::ApiError;

const PAGE: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");

fn words<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> String {
    all.iter().map(|v| as_str(*v)).collect::<Vec<_>>().join(" ")
}

pub fn page(ctx: &Ctx) -> Result<Reply, ApiError> {
    let default_region = ctx.config.default_region.clone()?;
    let active: Vec<JobStatus> = JobStatus::ALL.iter().copied().filter(|s| s.is_active()).collect();
    let html = PAGE
        .replace("{{DEFAULT_REGION}}", default_region.as_str())
        .replace("{{REGIONS}}", &words(Region::ALL, Region::as_str))
        .replace("{{PLAN_TIERS}}", &words(PlanTier::ALL, PlanTier::as_str))
        .replace("{{JOB_STATUSES}}", &words(JobStatus::ALL, JobStatus::as_str))
        .replace("{{ACTIVE_JOB_STATUSES}}", &words(&active, JobStatus::as_str));
    Ok(Reply::text(200, BodyKind::Html, html))
}

pub fn script() -> Reply {
    Reply::text(200, BodyKind::JavaScript, SCRIPT.to_string())
}

pub fn style() -> Reply {
    Reply::text(200, BodyKind::Css, STYLE.to_string())
}
