//! Hostile node tokens, run in the hostile suite's Worker: forged, truncated, stretched, another
//! node's, other schemes. Each is a clear 401 (or 403 for a real token outside its scope), never a
//! 500, echoes nothing of the credential, and changes nothing in D1.

use crate::harness::{Worker, KEY};
use crate::tokens::{bearer, every_table, issue, push_as, register};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![("node_tokens_forged_truncated_foreign_or_in_another_scheme_are_refused", hostile_node_tokens)]
}

fn hostile_node_tokens(w: &mut Worker) {
    register(w, "ht-a");
    register(w, "ht-b");
    let (a, _) = issue(w, "ht-a");
    let (b, _) = issue(w, "ht-b");
    let secret = &a[a.rfind('.').unwrap() + 1..];
    let before = every_table(w);

    let unauthorized: Vec<(&str, String)> = vec![
        ("forged_secret", bearer(&format!("cpn1.ht-a.1.{}", "7".repeat(64)))),
        ("real_secret_next_version", bearer(&format!("cpn1.ht-a.2.{secret}"))),
        ("real_secret_other_node", bearer(&format!("cpn1.ht-b.1.{secret}"))),
        ("real_secret_unknown_node", bearer(&format!("cpn1.ht-ghost.1.{secret}"))),
        ("truncated_by_one", bearer(&a[..a.len() - 1])),
        ("truncated_to_half", bearer(&a[..a.len() / 2])),
        ("prefix_only", bearer("cpn1.")),
        ("no_secret", bearer("cpn1.ht-a.1.")),
        ("stretched_by_one", bearer(&format!("{a}0"))),
        ("upper_case", bearer(&a.to_uppercase())),
        ("other_prefix", bearer(&a.replacen("cpn1", "cpn2", 1))),
        ("version_zero", bearer(&a.replacen(".1.", ".0.", 1))),
        ("version_leading_zero", bearer(&a.replacen(".1.", ".01.", 1))),
        ("version_overflow", bearer(&a.replacen(".1.", ".4294967296.", 1))),
        ("sql_in_node_id", bearer(&format!("cpn1.ht-a' OR '1'='1.1.{secret}"))),
        ("escaped_node_id", bearer(&format!("cpn1.%68t-a.1.{secret}"))),
        ("very_long_node_id", bearer(&format!("cpn1.{}.1.{secret}", "a".repeat(8000)))),
        ("two_tokens", format!("Bearer {a}, Bearer {a}")),
        ("basic_scheme", format!("Basic {a}")),
        ("token_scheme", format!("Token {a}")),
        ("no_scheme", a.clone()),
        ("colon_scheme", format!("Bearer: {a}")),
        ("admin_key_as_node_token", bearer(&format!("cpn1.ht-a.1.{KEY}"))),
    ];
    for (name, auth) in &unauthorized {
        let r = push_as(w, auth, "ht-a");
        assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"), "{name}: {}", r.text);
        assert_eq!(r.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{name}");
        assert!(!r.text.contains(secret) && !r.text.contains("ht-a"), "{name}: the answer echoes the credential: {}", r.text);
    }

    // A real token, another node's door: 403, also on the admin's node routes.
    for (name, method, path) in [
        ("other_nodes_push", "POST", "/internal/server-metrics"),
        ("other_nodes_token_issue", "POST", "/internal/nodes/ht-a/token"),
        ("other_nodes_token_revoke", "DELETE", "/internal/nodes/ht-a/token"),
        ("other_node_delete", "DELETE", "/internal/nodes/ht-a"),
    ] {
        let r = if path == "/internal/server-metrics" { push_as(w, &bearer(&b), "ht-a") } else { w.send(method, path, Some(&bearer(&b)), None, None) };
        assert_eq!((r.status, r.code().as_str()), (403, "forbidden"), "{name}: {}", r.text);
        assert!(!r.text.contains(&b[b.rfind('.').unwrap() + 1..]), "{name}: echoed");
    }
    assert_eq!(every_table(w), before, "a hostile token changed D1");
    assert!(!w.log_text().contains(secret), "a token reached the log");
    // Both tokens still work for their own nodes.
    assert_eq!(push_as(w, &bearer(&a), "ht-a").status, 200);
    assert_eq!(push_as(w, &bearer(&b), "ht-b").status, 200);
    // The suite's later cases count the nodes: leave none behind. Deleting a node kills its token.
    for (node, token) in [("ht-a", &a), ("ht-b", &b)] {
        assert_eq!(w.delete(&format!("/internal/nodes/{node}")).status, 200);
        let r = push_as(w, &bearer(token), node);
        assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"), "{node}: {}", r.text);
    }
}
