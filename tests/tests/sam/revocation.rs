//! The revocation phase of the `sam` system test: with the RR and both leaves
//! converged, the operator revokes leaf B on the RR (`routerd-tool enrollment revoke`);
//! leaf A loses client B's /32 within seconds, the RR lists the revocation, B's
//! enrollments (its own, after a reset, and a replay of its old request) are refused
//! `revoked-leaf`, also after an RR restart; reinstating lets B enroll again and A
//! installs client B's /32 again. Then the operator revokes B's current claim by digest
//! (`routerd-tool enrollment revoke-claim`): the claim and client B's /32 go, and a
//! replay of that exact request is refused `revoked-claim`.

use super::*;

/// How long a withdrawal may take to reach leaf A's kernel table.
const WITHDRAW_SECS: u64 = 10;

/// `routerd-tool enrollment ACTION --policy sites LEAF_ID --json` against the API
/// inside `ns`; returns the exit code and the printed JSON.
fn tool(ns: &Netns, action: &str, leaf_id: &str) -> (i32, Value) {
    let out = ns
        .command(binary("routerd-tool"))
        .args(["enrollment", action, "--router", "http://127.0.0.1:7179"])
        .args(["--policy", "sites", leaf_id, "--json"])
        .output()
        .expect("run routerd-tool");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

/// A `POST path` with a JSON body to the API inside `ns` (curl: it keeps its side of the
/// connection open until the answer, which the core gives after the handler waits).
fn post(ns: &Netns, path: &str, body: &str) -> Option<(u16, String)> {
    let out = ns
        .command("curl")
        .args([
            "-s",
            "-m",
            "10",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-d", body, "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:7179{path}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n')?;
    Some((status.trim().parse().ok()?, body.to_string()))
}

/// The enroll request leaf B stored (claim, nonce, MAC), as raw HTTP to the RR.
fn recorded_request(leaf: &Router<'_>) -> String {
    let stored: Value = serde_json::from_str(&read(&leaf.state.join("sam-leaf.json"))).unwrap();
    let request = serde_json::to_string(&stored["endpoints"][0]["answer"]["request"]).unwrap();
    assert!(request.contains("\"mac\""), "no recorded request: {stored}");
    format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: {RR_UNDERLAY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{request}",
        request.len()
    )
}

/// Sends `replay` to the RR's enrollment listener: it must be refused with `reason`
/// (403), and the RR must count the refusal.
fn assert_replay_refused(ul: &Netns, rr: &Router<'_>, replay: &str, reason: &str) {
    let before = refusals(rr, reason);
    let (status, body) = http(ul, RR_UNDERLAY, 4179, replay).expect("an answer to the replay");
    assert_eq!(
        (status, body),
        (403, format!(r#"{{"refused":"{reason}"}}"#))
    );
    assert!(
        wait_for(5, || (refusals(rr, reason) > before).then_some(())).is_some(),
        "{}",
        rr.doc("/v1/enrollment")
    );
}

fn revoked_listed(rr: &Router<'_>, leaf_id: &str) -> bool {
    rr.doc("/v1/enrollment")["rr"]["revoked"]
        .as_array()
        .is_some_and(|r| {
            r.iter()
                .any(|l| l["leaf_id"] == leaf_id && l["policy"] == "sites")
        })
}

fn has_claim(rr: &Router<'_>, leaf_id: &str) -> bool {
    rr.doc("/v1/enrollment")["rr"]["claims"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["leaf_id"] == leaf_id))
}

/// Runs the phase; every router is converged and running when it is called.
pub(super) fn revoke_and_reinstate(
    ul: &Netns,
    rr: &mut Router<'_>,
    leaf_a: &Router<'_>,
    leaf_b: &mut Router<'_>,
    a_ns: &Netns,
) {
    let replay = recorded_request(leaf_b);

    // Refusals that change nothing: a leaf is not an RR, an unknown policy, a bad body.
    let (status, body) = post(
        leaf_a.ns,
        "/v1/enrollment/revoke",
        r#"{"policy":"sites","leaf_id":"leaf-b"}"#,
    )
    .expect("leaf A answers");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not a SAM route reflector"), "{body}");
    let (status, body) = post(
        rr.ns,
        "/v1/enrollment/revoke",
        r#"{"policy":"nope","leaf_id":"leaf-b"}"#,
    )
    .expect("the RR answers");
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        post(rr.ns, "/v1/enrollment/revoke", r#"{"policy":"sites"}"#).expect("the RR answers");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("leaf_id"), "{body}");
    assert!(
        has_claim(rr, "leaf-b"),
        "a refused request changed the registry"
    );

    // Revoke: the claim goes, and client B's /32 leaves leaf A's kernel table at once.
    let (code, answer) = tool(rr.ns, "revoke", "leaf-b");
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["revoked"], true, "{answer}");
    assert_eq!(answer["claim_dropped"], true, "{answer}");
    let withdrawn = wait_for(WITHDRAW_SECS, || {
        (!routes(a_ns, CLIENT_B).contains("via")).then_some(())
    });
    assert!(
        withdrawn.is_some(),
        "leaf A still routes client B: {}",
        routes(a_ns, CLIENT_B)
    );
    // The enrollment document follows on the next status publication.
    let listed = wait_for(5, || {
        (!has_claim(rr, "leaf-b")
            && revoked_listed(rr, "leaf-b")
            && rr.doc("/v1/enrollment")["rr"]["revocations"] == 1)
            .then_some(())
    });
    assert!(listed.is_some(), "{}", rr.doc("/v1/enrollment"));
    assert!(
        established(&rr_peer(rr, "10.99.0.11")),
        "leaf A's session fell"
    );

    // A replay of B's old request is refused `revoked-leaf`, and counted.
    assert_replay_refused(ul, rr, &replay, "revoked-leaf");

    // B, reset (its state gone), enrolls again at once and is refused.
    leaf_b.stop();
    std::fs::remove_file(leaf_b.state.join("sam-leaf.json")).unwrap();
    let before = refusals(rr, "revoked-leaf");
    leaf_b.start();
    let refused = wait_for(CONVERGE_SECS, || {
        (refusals(rr, "revoked-leaf") > before).then_some(())
    });
    assert!(
        refused.is_some(),
        "leaf B's enrollment was not refused: {}\n{}",
        rr.doc("/v1/enrollment"),
        leaf_b.logs()
    );
    assert_ne!(leaf_b.doc("/v1/enrollment")["leaf"]["state"], "Ready");

    // The revocation is persisted: after an RR restart B's retries are still refused.
    rr.stop();
    rr.start();
    assert!(
        wait_for(5, || revoked_listed(rr, "leaf-b").then_some(())).is_some(),
        "revocation lost in the restart: {}",
        rr.doc("/v1/enrollment")
    );
    let still = wait_for(3 * CONVERGE_SECS, || {
        (refusals(rr, "revoked-leaf") > 0).then_some(())
    });
    assert!(
        still.is_some(),
        "leaf B not refused after the RR restart: {}\n{}",
        rr.doc("/v1/enrollment"),
        leaf_b.logs()
    );
    assert!(!has_claim(rr, "leaf-b"));
    assert!(!routes(a_ns, CLIENT_B).contains("via"));

    // Reinstate: B enrolls on its next retry, and A installs client B's /32 again.
    let (code, answer) = tool(rr.ns, "reinstate", "leaf-b");
    assert_eq!(code, 0, "{answer}");
    assert_eq!(answer["was_revoked"], true, "{answer}");
    assert!(
        wait_for(5, || (!revoked_listed(rr, "leaf-b")).then_some(())).is_some(),
        "{}",
        rr.doc("/v1/enrollment")
    );
    let back = wait_for(4 * CONVERGE_SECS, || {
        (leaf_b.doc("/v1/enrollment")["leaf"]["state"] == "Ready"
            && routes(a_ns, CLIENT_B).contains("via 10.99.0.1"))
        .then_some(())
    });
    assert!(
        back.is_some(),
        "leaf B did not come back: {}\na: {}\nleaf-b log:\n{}",
        rr.doc("/v1/enrollment"),
        routes(a_ns, CLIENT_B),
        leaf_b.logs()
    );
    assert!(
        wait_for(5, || has_claim(rr, "leaf-b").then_some(())).is_some(),
        "{}",
        rr.doc("/v1/enrollment")
    );

    revoke_current_claim(ul, rr, leaf_b, a_ns);
}

/// Revokes leaf B's current claim by its digest, as the RR lists it.
fn revoke_current_claim(ul: &Netns, rr: &Router<'_>, leaf_b: &Router<'_>, a_ns: &Netns) {
    let claims = rr.doc("/v1/enrollment")["rr"]["claims"].clone();
    let digest = claims
        .as_array()
        .and_then(|c| c.iter().find(|c| c["leaf_id"] == "leaf-b"))
        .and_then(|c| c["digest"].as_str())
        .unwrap_or_else(|| panic!("no claim of leaf-b: {claims}"))
        .to_string();
    let replay = recorded_request(leaf_b);
    let (status, body) = post(
        rr.ns,
        "/v1/enrollment/revoke-claim",
        r#"{"digest":"sha256:1234"}"#,
    )
    .expect("the RR answers");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("digest"), "{body}");

    let out = rr
        .ns
        .command(binary("routerd-tool"))
        .args([
            "enrollment",
            "revoke-claim",
            "--router",
            "http://127.0.0.1:7179",
        ])
        .args([digest.as_str(), "--json"])
        .output()
        .expect("run routerd-tool");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{answer}");
    assert_eq!(answer["revoked"], true, "{answer}");
    assert_eq!(answer["claim_dropped_for"]["leaf_id"], "leaf-b", "{answer}");
    let withdrawn = wait_for(WITHDRAW_SECS, || {
        (!routes(a_ns, CLIENT_B).contains("via")).then_some(())
    });
    assert!(
        withdrawn.is_some(),
        "leaf A still routes client B: {}",
        routes(a_ns, CLIENT_B)
    );
    assert_replay_refused(ul, rr, &replay, "revoked-claim");
    assert!(
        !revoked_listed(rr, "leaf-b"),
        "a claim revoke must not revoke the leaf"
    );
}
