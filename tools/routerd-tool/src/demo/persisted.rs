//! What the routers stored in their state directories, as far as enrollment goes: the
//! RR's SAM registry (`"format": "routerd-sam-registry"`) and each leaf's enrollment state
//! (`"format": "routerd-sam-leaf"`), both documented in docs/sam.md section 8.
//!
//! The restart check compares these before the RR is killed and after it is back: the
//! same accepted claims (leaf id and acceptance time) on the RR, and the same stored
//! answers (receive time and claim digest) on every leaf mean nobody enrolled again.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::checks::{Assertion, strings_under};
use super::observe::NodeDocs;

/// The first JSON file (depth ≤ 2) under `dir` whose `format` is `format`.
pub(crate) fn find_state(dir: &Path, format: &str) -> Option<(String, Value)> {
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                if depth < 2 {
                    stack.push((p, depth + 1));
                }
                continue;
            }
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
                && v["format"] == format
            {
                return Some((p.display().to_string(), v));
            }
        }
    }
    None
}

/// The RR registry's accepted claims as `leaf_id@accepted_at`.
pub(crate) fn registry_claims(registry: &Value) -> BTreeSet<String> {
    registry["claims"]
        .as_array()
        .map(|claims| {
            claims
                .iter()
                .map(|c| {
                    let mut ids = Vec::new();
                    strings_under(c, "leaf_id", &mut ids);
                    format!("{}@{}", ids.first().unwrap_or(&"?"), c["accepted_at"])
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A leaf state's stored answers as `endpoint@received_at#digest`.
pub(crate) fn leaf_answers(state: &Value) -> BTreeSet<String> {
    state["endpoints"]
        .as_array()
        .map(|eps| {
            eps.iter()
                .map(|e| {
                    let a = &e["answer"];
                    let mut digests = Vec::new();
                    strings_under(&a["answer"], "claim_digest", &mut digests);
                    format!(
                        "{}@{}#{}",
                        e["endpoint"].as_str().unwrap_or("?"),
                        a["received_at"],
                        digests.first().unwrap_or(&"none")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Enrollment state of the RR and every leaf at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnrollmentState {
    /// The RR's accepted claims (`None`: no registry file found).
    pub(crate) registry: Option<BTreeSet<String>>,
    /// Per leaf node: stored answers (`None`: no state file found).
    pub(crate) leaves: Vec<(String, Option<BTreeSet<String>>)>,
}

impl EnrollmentState {
    /// Reads the state directories: `rr_dir`, and `(node, dir)` per leaf.
    pub(crate) fn read(rr_dir: &Path, leaves: &[(String, std::path::PathBuf)]) -> Self {
        EnrollmentState {
            registry: find_state(rr_dir, "routerd-sam-registry").map(|(_, v)| registry_claims(&v)),
            leaves: leaves
                .iter()
                .map(|(node, dir)| {
                    (
                        node.clone(),
                        find_state(dir, "routerd-sam-leaf").map(|(_, v)| leaf_answers(&v)),
                    )
                })
                .collect(),
        }
    }
}

impl EnrollmentState {
    /// The same facts read through the API, where the state directories cannot be read
    /// from outside (QEMU guests keep them on their state partitions): the RR's
    /// `/v1/enrollment` claims as `leaf_id@accepted_at#digest`, and per leaf its
    /// `/v1/enrollment` answer as `claim_digest` and `expires_at` (both change when a
    /// leaf enrolls again).
    pub(crate) fn from_api(rr: &NodeDocs, leaves: &[NodeDocs]) -> Self {
        let registry = rr.doc("/v1/enrollment").ok().and_then(|d| {
            d["rr"]["claims"].as_array().map(|claims| {
                claims
                    .iter()
                    .map(|c| {
                        format!(
                            "{}@{}#{}",
                            c["leaf_id"].as_str().unwrap_or("?"),
                            c["accepted_at"],
                            c["digest"].as_str().unwrap_or("none")
                        )
                    })
                    .collect()
            })
        });
        EnrollmentState {
            registry,
            leaves: leaves
                .iter()
                .map(|l| {
                    let answer = l.doc("/v1/enrollment").ok().and_then(|d| {
                        let leaf = &d["leaf"];
                        let digest = leaf["claim_digest"].as_str()?;
                        Some(BTreeSet::from([format!(
                            "{digest} expires_at {}",
                            leaf["expires_at"]
                        )]))
                    });
                    (l.node.clone(), answer)
                })
                .collect(),
        }
    }
}

/// R7: the RR's registry came back from its state directory with the same claims.
pub(crate) fn registry_restored(before: &EnrollmentState, after: &EnrollmentState) -> Assertion {
    let title = "the RR's registry came back from its state directory (same four claims)";
    let show = |s: &Option<BTreeSet<String>>| match s {
        Some(set) => format!(
            "{} claims: {}",
            set.len(),
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => "no registry file".into(),
    };
    let pass =
        matches!((&before.registry, &after.registry), (Some(a), Some(b)) if a == b && a.len() == 4);
    Assertion::new(
        "R7",
        title,
        pass,
        vec![
            format!("before the kill: {}", show(&before.registry)),
            format!("after the restart: {}", show(&after.registry)),
        ],
    )
}

/// R8: no leaf enrolled again across the RR restart.
pub(crate) fn no_reenrollment(before: &EnrollmentState, after: &EnrollmentState) -> Assertion {
    let mut pass = before.leaves.len() == 4;
    let mut evidence = Vec::new();
    for ((node, b), (_, a)) in before.leaves.iter().zip(&after.leaves) {
        let same = matches!((b, a), (Some(x), Some(y)) if x == y && !x.is_empty());
        pass &= same;
        evidence.push(format!(
            "{node}: stored enrollment {} ({})",
            if same {
                "unchanged"
            } else {
                "CHANGED or missing"
            },
            a.as_ref()
                .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "no state file".into())
        ));
    }
    Assertion::new(
        "R8",
        "no leaf enrolled again (stored enrollment unchanged on every leaf)",
        pass,
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_documented_formats_and_compares_them() {
        let dir = std::env::temp_dir().join(format!("demo-persisted-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sam")).unwrap();
        let registry = json!({"format":"routerd-sam-registry","version":1,
            "claims":[{"request":{"claim":{"subject":{"leaf_id":"aws"}}},"accepted_at":100,"expires_at":200}],
            "nonces":[],"revoked_leaves":[],"revoked_digests":[]});
        std::fs::write(dir.join("sam/registry.json"), registry.to_string()).unwrap();
        std::fs::write(dir.join("other.json"), "{\"format\":\"x\"}").unwrap();
        let (_, found) = find_state(&dir, "routerd-sam-registry").unwrap();
        assert_eq!(
            registry_claims(&found).into_iter().collect::<Vec<_>>(),
            ["aws@100"]
        );
        assert!(find_state(&dir, "routerd-sam-leaf").is_none());
        let leaf = json!({"format":"routerd-sam-leaf","version":1,"endpoints":[
            {"endpoint":"203.0.113.10:4179","next_attempt":5,
             "answer":{"request":{"claim":{}},"answer":{"answer":{"claim_digest":"ab"},"mac":"00"},
                       "received_at":7,"expires_at":9}}]});
        assert_eq!(
            leaf_answers(&leaf).into_iter().collect::<Vec<_>>(),
            ["203.0.113.10:4179@7#ab"]
        );
        let a = EnrollmentState {
            registry: Some(registry_claims(&found)),
            leaves: vec![],
        };
        assert!(!registry_restored(&a, &a).pass, "one claim is not four");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
