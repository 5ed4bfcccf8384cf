//! The Pulumi stack a provision lands in: `dedicated-{safe_id}` for a dedicated tenant, the region
//! for a shared one.
//!
//! The name is computed twice: here (recorded on the job and shown by placement) and by the
//! provisioning workflow's bash, which selects the stack it runs `pulumi up` in. If the two ever
//! disagreed, a job would say one stack while the infrastructure went to another, so both are
//! pinned to the same cases in `tests/fixtures/stack_names.tsv`.

use crate::domain::Region;
use crate::error::ApiError;

/// The SPEC's cut; the workflow's bash port must use the same number.
const SAFE_ID_MAX_LEN: usize = 40;

/// The tenant id reduced to `[a-z0-9-]`, as the SPEC's `pulumi_stack` rule says; `None` when
/// nothing usable is left (an id made only of symbols or non-ASCII characters).
///
/// Lower-casing is ASCII only on purpose: a Unicode-aware rule would depend on the locale and
/// Unicode tables of whichever shell runs the workflow, and `Ü` would silently become `ü`
/// (still outside the alphabet) on one side and something else on the other.
pub fn safe_id(tenant_id: &str) -> Option<String> {
    let mut collapsed = String::with_capacity(tenant_id.len());
    let mut in_run = false;
    for ch in tenant_id.chars() {
        let ch = ch.to_ascii_lowercase();
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            collapsed.push(ch);
            in_run = false;
        } else if !in_run {
            collapsed.push('-');
            in_run = true;
        }
    }
    // Only ASCII is left, so cutting at a byte index cuts at a character boundary.
    let trimmed = collapsed.trim_matches('-');
    let cut = &trimmed[..trimmed.len().min(SAFE_ID_MAX_LEN)];
    let id = cut.trim_end_matches('-');
    (!id.is_empty()).then(|| id.to_string())
}

/// The stack name for a placement, or `Ok(None)` for a dedicated preview that names no tenant
/// (an operator asking "what would enterprise get?" before a tenant exists).
pub fn pulumi_stack(dedicated: bool, region: Region, tenant_id: Option<&str>) -> Result<Option<String>, ApiError> {
    if !dedicated {
        return Ok(Some(region.as_str().to_string()));
    }
    let Some(tenant_id) = tenant_id else { return Ok(None) };
    match safe_id(tenant_id) {
        Some(id) => Ok(Some(format!("dedicated-{id}"))),
        None => Err(ApiError::bad_field("tenant_id", "tenant_id cannot form a stack name: it needs at least one ASCII letter or digit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/stack_names.tsv");

    #[test]
    fn safe_id_matches_every_case_of_the_shared_fixture() {
        let mut checked = 0;
        let mut failures = Vec::new();
        for (n, line) in FIXTURE.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (tenant_id, want) = line.split_once('\t').unwrap_or_else(|| panic!("stack_names.tsv line {}: no tab in {line:?}", n + 1));
            let want = (want != "EMPTY").then_some(want);
            let got = safe_id(tenant_id);
            if got.as_deref() != want {
                failures.push(format!("line {}: safe_id({tenant_id:?}) = {got:?}, want {want:?}", n + 1));
            }
            checked += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checked >= 40, "the fixture lost cases: only {checked} checked");
    }

    #[test]
    fn safe_id_is_short_lower_case_and_trimmed() {
        assert_eq!(safe_id("Acme_Corp").as_deref(), Some("acme-corp"));
        assert_eq!(safe_id(""), None);
        assert_eq!(safe_id("   "), None);
        assert_eq!(safe_id(" padded tenant ").as_deref(), Some("padded-tenant"));
        let long = safe_id(&"x".repeat(200)).unwrap();
        assert_eq!(long.len(), 40);
        // Character 40 is a separator: the cut leaves it at the end and it goes again.
        assert_eq!(safe_id(&format!("{}.y", "x".repeat(39))).unwrap(), "x".repeat(39));
    }

    #[test]
    fn dedicated_stacks_are_named_after_the_tenant() {
        assert_eq!(pulumi_stack(true, Region::Sg, Some("Acme Corp")).unwrap().as_deref(), Some("dedicated-acme-corp"));
        assert_eq!(pulumi_stack(true, Region::Eu, None).unwrap(), None);
    }

    #[test]
    fn shared_stacks_are_the_region_whatever_the_tenant() {
        assert_eq!(pulumi_stack(false, Region::Us, Some("租户")).unwrap().as_deref(), Some("us"));
        assert_eq!(pulumi_stack(false, Region::Sg, None).unwrap().as_deref(), Some("sg"));
    }

    #[test]
    fn a_tenant_id_without_letters_or_digits_is_a_400_on_tenant_id() {
        for bad in ["", "---", "租户", "🚀"] {
            let e = pulumi_stack(true, Region::Sg, Some(bad)).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
            let body = serde_json::to_value(e.body()).unwrap();
            assert_eq!(body["error"]["field"], "tenant_id", "{bad:?}");
            assert!(body["error"]["message"].as_str().unwrap().contains("stack name"));
        }
    }
}
