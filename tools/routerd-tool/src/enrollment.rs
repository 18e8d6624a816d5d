//! `routerd-tool enrollment`: SAM enrollment of a running router.
//!
//! Reads `/v1/enrollment`. On a leaf: its state (`Unenrolled`, `Enrolling`, `Ready`,
//! `Stale`), claim, expiry, RR set and enrollment endpoints; on an RR: the accepted
//! claims, the revoked leaves and the refusals by reason. A table by default, the API's
//! JSON with `--json`. Exit codes: 0 answered (and with `--require-ready`, the leaf is
//! `Ready`), 1 the router is unreachable, has no `[sam]` section, answered an error, or
//! is not `Ready` when required, 2 usage.
//!
//! `enrollment revoke --policy P LEAF_ID` / `enrollment reinstate --policy P LEAF_ID`
//! (on an RR) post to `/v1/enrollment/revoke` / `/v1/enrollment/reinstate`; exit 0 done,
//! 1 refused (not an RR, unknown policy) or unreachable, 2 usage.
//! `enrollment revoke-claim DIGEST` (on an RR) posts to `/v1/enrollment/revoke-claim`.

use std::fmt::Write as _;

use api::revocation::{ClaimRef, ClaimRevoked, LeafRef};
use api::sam::{Enrollment, LeafEnrollment, RrEnrollment};

use crate::status::{ApiArgs, connect, exit_code};

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Exit 1 unless the router is a leaf whose enrollment is `Ready` (for scripts).
    #[arg(long)]
    require_ready: bool,
    #[command(subcommand)]
    action: Option<Action>,
}

/// What to change on an RR (without one, the enrollment is shown).
#[derive(clap::Subcommand)]
enum Action {
    /// Throw a leaf out (stolen or retired): the RR drops its claim, tunnel and BGP
    /// session at once, so its /32s disappear from every other leaf, and refuses its
    /// enrollments (`revoked-leaf`) until it is reinstated; survives RR restarts.
    #[command(
        after_help = "Example: routerd-tool enrollment revoke --router http://192.0.2.1:7179 \
    --token-file ~/.routerd-token --policy clients site-b\n\
Exit codes: 0 revoked; 1 refused (not an RR, unknown policy) or unreachable; 2 usage."
    )]
    Revoke(Target),
    /// Let a revoked leaf back in: it enrolls again on its next attempt (within its
    /// retry interval; restart it to enroll at once).
    #[command(
        after_help = "Example: routerd-tool enrollment reinstate --router http://192.0.2.1:7179 \
    --token-file ~/.routerd-token --policy clients site-b\n\
Exit codes: 0 reinstated; 1 refused (not an RR, unknown policy) or unreachable; 2 usage."
    )]
    Reinstate(Target),
    /// Revoke one accepted request by its claim digest (the `DIGEST` column of
    /// `routerd-tool enrollment` on the RR), for good: a replay of that request is
    /// refused (`revoked-claim`). When it is a leaf's current claim, the claim, tunnel
    /// and session are dropped; the leaf may enroll again with a fresh claim (revoke the
    /// leaf to keep it out).
    #[command(
        after_help = "Example: routerd-tool enrollment revoke-claim --router http://192.0.2.1:7179 \
    --token-file ~/.routerd-token sha256:4ad4ea01...\n\
Exit codes: 0 revoked; 1 refused (not an RR, malformed digest) or unreachable; 2 usage."
    )]
    RevokeClaim(ClaimTarget),
}

/// The claim a `revoke-claim` is about, and where to send it.
#[derive(clap::Args)]
struct ClaimTarget {
    #[command(flatten)]
    api: ApiArgs,
    /// The claim digest, `sha256:` and 64 hex digits (the prefix may be left out).
    #[arg(value_name = "DIGEST")]
    digest: String,
    /// Print the API's JSON answer instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// The leaf a revoke or reinstate is about, and where to send it.
#[derive(clap::Args)]
struct Target {
    #[command(flatten)]
    api: ApiArgs,
    /// The enrollment policy the leaf enrolls under (as in the RR's config).
    #[arg(long, value_name = "POLICY")]
    policy: String,
    /// The leaf id of its claims (as in the leaf's config).
    #[arg(value_name = "LEAF_ID")]
    leaf_id: String,
    /// Print the API's JSON answer instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    match args.action {
        Some(Action::Revoke(target)) => return change(&target, true),
        Some(Action::Reinstate(target)) => return change(&target, false),
        Some(Action::RevokeClaim(target)) => return revoke_claim(&target),
        None => {}
    }
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let enrollment = match client.enrollment() {
        Ok(e) => e,
        Err(e) => return exit_code(&e),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&enrollment).unwrap_or_default()
        );
    } else {
        print!("{}", render(&enrollment));
    }
    let ready = enrollment.leaf.as_ref().is_some_and(|l| l.state == "Ready");
    if args.require_ready && !ready {
        eprintln!("error: the router's enrollment is not Ready");
        return 1;
    }
    0
}

/// Posts a revoke (`revoke`) or reinstate for `target`; returns the exit code.
fn change(target: &Target, revoke: bool) -> i32 {
    let client = match connect(&target.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let leaf = LeafRef {
        policy: target.policy.clone(),
        leaf_id: target.leaf_id.clone(),
    };
    let (json, text) = if revoke {
        match client.revoke_leaf(&leaf) {
            Ok(answer) => (
                serde_json::to_string_pretty(&answer),
                revoked_text(&leaf, answer.claim_dropped),
            ),
            Err(e) => return exit_code(&e),
        }
    } else {
        match client.reinstate_leaf(&leaf) {
            Ok(answer) => (
                serde_json::to_string_pretty(&answer),
                reinstated_text(&leaf, answer.was_revoked),
            ),
            Err(e) => return exit_code(&e),
        }
    };
    match target.json {
        true => println!("{}", json.unwrap_or_default()),
        false => println!("{text}"),
    }
    0
}

/// Posts a claim revoke for `target`; returns the exit code.
fn revoke_claim(target: &ClaimTarget) -> i32 {
    let claim = ClaimRef {
        digest: target.digest.clone(),
    };
    if let Err(error) = claim.bytes() {
        eprintln!("error: {error}");
        return 2;
    }
    let client = match connect(&target.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.revoke_claim(&claim) {
        Ok(answer) if target.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            )
        }
        Ok(answer) => println!("{}", claim_revoked_text(&claim, &answer)),
        Err(e) => return exit_code(&e),
    }
    0
}

fn claim_revoked_text(claim: &ClaimRef, answer: &ClaimRevoked) -> String {
    match &answer.claim_dropped_for {
        Some(leaf) => format!(
            "revoked claim {}: it was the current claim of {} (policy {}), dropped with its \
             tunnel and session; a replay is refused, a fresh claim is not",
            claim.digest, leaf.leaf_id, leaf.policy
        ),
        None => format!(
            "revoked claim {}: no current claim had it; a replay of it is refused",
            claim.digest
        ),
    }
}

fn revoked_text(leaf: &LeafRef, claim_dropped: bool) -> String {
    let what = match claim_dropped {
        true => "its claim, tunnel and session were dropped",
        false => "it had no accepted claim",
    };
    format!(
        "revoked {} (policy {}): {what}; its enrollments are refused until reinstated",
        leaf.leaf_id, leaf.policy
    )
}

fn reinstated_text(leaf: &LeafRef, was_revoked: bool) -> String {
    let what = match was_revoked {
        true => "it enrolls again on its next attempt",
        false => "it was not revoked",
    };
    format!(
        "reinstated {} (policy {}): {what}",
        leaf.leaf_id, leaf.policy
    )
}

/// The text form.
pub(crate) fn render(enrollment: &Enrollment) -> String {
    let mut out = format!("role        {}\n", enrollment.role);
    if let Some(leaf) = &enrollment.leaf {
        render_leaf(&mut out, leaf);
    }
    if let Some(rr) = &enrollment.rr {
        render_rr(&mut out, rr);
    }
    out
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("-")
}

fn render_leaf(out: &mut String, leaf: &LeafEnrollment) {
    let _ = writeln!(out, "state       {}", leaf.state);
    let _ = writeln!(out, "leaf id     {} (policy {})", leaf.leaf_id, leaf.policy);
    let _ = writeln!(out, "tunnel      {}", leaf.tunnel_address);
    let _ = writeln!(out, "owned       {}", leaf.owned.join(", "));
    let _ = writeln!(out, "claim       {}", or_dash(leaf.claim_digest.as_deref()));
    match leaf.expires_in_secs {
        Some(secs) => {
            let _ = writeln!(out, "expires in  {secs}s");
        }
        None => out.push_str("expires in  -\n"),
    }
    if leaf.stale_for_secs > 0 {
        let _ = writeln!(out, "stale for   {}s", leaf.stale_for_secs);
    }
    if let Some(error) = &leaf.last_error {
        let _ = writeln!(out, "last error  {error}");
    }
    out.push_str("\nRR ROUTER-ID / TUNNEL / UNDERLAY / SESSION\n");
    if leaf.rr_set.is_empty() {
        out.push_str("(none)\n");
    }
    for rr in &leaf.rr_set {
        let _ = writeln!(
            out,
            "{}  {}  {}  {}",
            rr.router_id, rr.tunnel_address, rr.underlay_endpoint, rr.session
        );
    }
    out.push_str("\nENROLLMENT ENDPOINT / FAILURES\n");
    for e in &leaf.endpoints {
        let _ = writeln!(out, "{}  {}", e.enrollment, e.failures);
    }
}

fn render_rr(out: &mut String, rr: &RrEnrollment) {
    let _ = writeln!(out, "claims      {}", rr.claims.len());
    out.push_str("\nLEAF / POLICY / TUNNEL / OWNED / ENDPOINT / EXPIRES IN / DIGEST\n");
    if rr.claims.is_empty() {
        out.push_str("(none)\n");
    }
    for c in &rr.claims {
        let endpoint = c
            .endpoint_learned
            .as_deref()
            .or(c.underlay_endpoint.as_deref());
        let _ = writeln!(
            out,
            "{}  {}  {}  {}  {}  {}s  {}",
            c.leaf_id,
            c.policy,
            c.tunnel_address,
            c.owned.join(","),
            or_dash(endpoint),
            c.expires_in_secs,
            c.digest
        );
    }
    for r in &rr.refusals {
        let _ = writeln!(out, "refused     {} ({})", r.count, r.reason);
    }
    for leaf in &rr.revoked {
        let _ = writeln!(out, "revoked     {} (policy {})", leaf.leaf_id, leaf.policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::sam::{ClaimView, EndpointView, RrView};

    #[test]
    fn a_leaf_shows_state_expiry_and_rr_set() {
        let e = Enrollment {
            role: "leaf".into(),
            leaf: Some(LeafEnrollment {
                state: "Ready".into(),
                leaf_id: "site-a".into(),
                policy: "clients".into(),
                tunnel_address: "203.0.113.11".into(),
                owned: vec!["198.51.100.11/32".into()],
                claim_digest: Some("sha256:ab".into()),
                expires_at: Some(1000),
                expires_in_secs: Some(42),
                stale_for_secs: 0,
                rr_set: vec![RrView {
                    router_id: "192.0.2.1".into(),
                    tunnel_address: "203.0.113.1".into(),
                    underlay_endpoint: "192.0.2.1:51820".into(),
                    session: "Established".into(),
                }],
                endpoints: vec![EndpointView {
                    enrollment: "192.0.2.1:7180".into(),
                    failures: 0,
                }],
                last_error: None,
            }),
            rr: None,
        };
        let text = render(&e);
        assert!(text.contains("state       Ready\n"), "{text}");
        assert!(text.contains("expires in  42s\n"), "{text}");
        assert!(
            text.contains("192.0.2.1  203.0.113.1  192.0.2.1:51820  Established\n"),
            "{text}"
        );
        assert!(!text.contains("stale for"), "{text}");
    }

    #[test]
    fn an_rr_lists_claims_with_the_learned_endpoint_first() {
        let e = Enrollment {
            role: "rr".into(),
            leaf: None,
            rr: Some(RrEnrollment {
                claims: vec![ClaimView {
                    policy: "clients".into(),
                    leaf_id: "site-a".into(),
                    tunnel_address: "203.0.113.11".into(),
                    owned: vec!["198.51.100.11/32".into()],
                    underlay_endpoint: Some("192.0.2.11:51820".into()),
                    endpoint_learned: Some("198.51.100.200:40000".into()),
                    accepted_at: 1,
                    expires_at: 2,
                    expires_in_secs: 60,
                    digest: "sha256:cd".into(),
                }],
                refusals: vec![],
                revoked: vec![LeafRef {
                    policy: "clients".into(),
                    leaf_id: "site-b".into(),
                }],
                revocations: 1,
            }),
        };
        let text = render(&e);
        assert!(text.contains("claims      1\n"), "{text}");
        assert!(
            text.contains("revoked     site-b (policy clients)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "site-a  clients  203.0.113.11  198.51.100.11/32  198.51.100.200:40000  60s  sha256:cd\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn revoke_and_reinstate_say_what_happened() {
        let leaf = LeafRef {
            policy: "clients".into(),
            leaf_id: "site-b".into(),
        };
        assert!(revoked_text(&leaf, true).contains("claim, tunnel and session were dropped"));
        assert!(revoked_text(&leaf, false).contains("no accepted claim"));
        assert!(reinstated_text(&leaf, true).contains("enrolls again"));
        assert!(reinstated_text(&leaf, false).contains("was not revoked"));
    }

    #[test]
    fn revoke_needs_a_policy_and_a_leaf_id() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let ok = Cli::try_parse_from(["t", "revoke", "--policy", "clients", "site-b", "--json"]);
        match ok.map(|c| c.args.action) {
            Ok(Some(Action::Revoke(t))) => {
                assert_eq!(
                    (t.policy.as_str(), t.leaf_id.as_str(), t.json),
                    ("clients", "site-b", true)
                )
            }
            _ => panic!("revoke did not parse"),
        }
        assert!(Cli::try_parse_from(["t", "revoke", "site-b"]).is_err());
        assert!(Cli::try_parse_from(["t", "reinstate", "--policy", "clients"]).is_err());
        assert!(Cli::try_parse_from(["t", "--json"]).is_ok_and(|c| c.args.action.is_none()));
    }
}
