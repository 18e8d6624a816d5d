//! System tests of the control and status API against a running routerd: access control
//! (401, 403), request limits (413, 429), wildcard binds refused at validation, paged
//! route listings over thousands of routes fed by ExaBGP, consistent answers while routes
//! churn, and the `routerd-tool` output (insta snapshots, volatile fields redacted).
//!
//! Topology, inside a fresh network namespace per test: a veth pair `ra` (192.0.2.1,
//! routerd) and `rb` (192.0.2.2, ExaBGP); API clients use extra /32s on `lo` as their
//! source addresses (192.0.2.3-14 inside the allowlist 192.0.2.0/28, 198.51.100.9
//! outside it). Processes are killed by PID when the test ends, also on failure.

mod api_support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use system_tests::netns::{in_fresh_netns, wait_for};

use api_support::*;

#[test]
fn wildcard_bind_is_refused_at_validation_unless_sources_are_listed() {
    let base = routerd_config(&"ab".repeat(32));
    let wildcard = base.replace(
        &format!("bind = [\"{API}\"]\nallow_sources = [\"192.0.2.0/28\"]"),
        "bind = [\"0.0.0.0:7179\"]",
    );
    assert_ne!(wildcard, base);
    let errors =
        config::check_toml(&wildcard, "wildcard.toml").expect_err("wildcard bind accepted");
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("api.bind[0]") && e.contains("wildcard")),
        "{text:?}"
    );
    let ipv6 = wildcard.replace("0.0.0.0:7179", "[::]:7179");
    assert!(config::check_toml(&ipv6, "wildcard6.toml").is_err());
    // With a source allowlist the same wildcard bind is valid.
    let listed = wildcard.replace(
        "bind = [\"0.0.0.0:7179\"]",
        "bind = [\"0.0.0.0:7179\"]\nallow_sources = [\"192.0.2.0/28\"]",
    );
    if let Err(e) = config::check_toml(&listed, "listed.toml") {
        panic!("wildcard with allowlist refused: {e:?}");
    }
}

#[test]
fn access_control_and_request_limits() {
    in_fresh_netns("rdapi", "access_control_and_request_limits", || {
        topology();
        let scratch = Scratch::new();
        let _routerd = start_routerd(&scratch.0);

        // 401 without and with a wrong token.
        let none = get(SOURCE, "/v1/status", None);
        assert_eq!(none.status, 401, "{}", none.body);
        assert!(none.head.contains("www-authenticate: bearer"));
        assert_eq!(get(SOURCE, "/v1/status", Some("wrong-token")).status, 401);
        assert_eq!(get(SOURCE, "/v1/peers", Some(TOKEN)).status, 200);

        // 403 from outside the allowlist, even with the right token.
        let outside = Ipv4Addr::new(198, 51, 100, 9);
        assert_eq!(get(outside, "/v1/status", Some(TOKEN)).status, 403);

        // 413 for a body larger than the limit, with a JSON body that says what to do.
        let big = "x".repeat(300 * 1024);
        let declared = format!(
            "GET /v1/status HTTP/1.1\r\nHost: {API}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{big}",
            big.len()
        );
        let refused = request(Ipv4Addr::new(192, 0, 2, 4), declared.as_bytes());
        assert_eq!(refused.status, 413, "{}", refused.body);
        let body = refused.json();
        assert!(
            body["error"].as_str().unwrap().contains("larger than"),
            "{body}"
        );
        assert!(body["hint"].as_str().unwrap().contains("smaller"), "{body}");

        // 429 once a source has spent its burst; the answer says when to retry, and other
        // sources are not affected.
        let hammer = Ipv4Addr::new(192, 0, 2, 5);
        let mut codes = Vec::new();
        for _ in 0..120 {
            codes.push(get(hammer, "/v1/status", Some(TOKEN)).status);
            if codes.last() == Some(&429) {
                break;
            }
        }
        assert_eq!(codes.last(), Some(&429), "never limited: {codes:?}");
        assert!(
            codes.iter().filter(|&&c| c == 200).count() >= 30,
            "{codes:?}"
        );
        let limited = get(hammer, "/v1/status", Some(TOKEN));
        assert_eq!(limited.status, 429);
        assert!(limited.head.contains("retry-after:"), "{}", limited.head);
        assert!(
            limited.json()["hint"]
                .as_str()
                .unwrap()
                .contains("Retry-After"),
            "{}",
            limited.body
        );
        assert_eq!(
            get(Ipv4Addr::new(192, 0, 2, 6), "/v1/status", Some(TOKEN)).status,
            200
        );

        // The tool: a wrong token is a refusal (1), a bad URL is usage (2).
        let bad_token = scratch.0.join("bad-token");
        std::fs::write(&bad_token, "nope\n").unwrap();
        let out = Command::new(binary("routerd-tool"))
            .args([
                "status",
                "--router",
                &format!("http://{API}"),
                "--token-file",
            ])
            .arg(&bad_token)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
        let out = Command::new(binary("routerd-tool"))
            .args(["status", "--router", "192.0.2.1:7179"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    });
}

#[test]
fn paged_routes_consistent_answers_under_churn_and_cli_output() {
    in_fresh_netns(
        "rdpage",
        "paged_routes_consistent_answers_under_churn_and_cli_output",
        || {
            topology();
            let scratch = Scratch::new();
            let dir = &scratch.0;
            let _routerd = start_routerd(dir);
            let _exabgp = start_exabgp(dir, true);
            let total = STATIC_IN_FILTER + STATIC_OUTSIDE;
            let learned = wait_for(60, || {
                let peers = get(SOURCE, "/v1/peers", Some(TOKEN));
                let accepted = peers.json()["peers"][0]["accepted"].as_u64()?;
                (accepted as usize >= total).then_some(accepted)
            });
            assert!(
                learned.is_some(),
                "routes not learned; routerd log:\n{}\nexabgp log:\n{}",
                read_log(dir, "routerd.log"),
                read_log(dir, "exabgp.log")
            );

            // Pagination: every static prefix inside the filter exactly once, in order,
            // whatever the churn outside it does meanwhile.
            let started = Instant::now();
            let pages = walk(SOURCE, "10.20.0.0/16", 250);
            eprintln!("walked {} prefixes in {:?}", pages.len(), started.elapsed());
            assert_eq!(pages.len(), STATIC_IN_FILTER);
            assert!(sorted_by_address(&pages));
            assert!(pages.iter().all(|p| p.starts_with("10.20.")));
            let mut dedup = pages.clone();
            dedup.dedup();
            assert_eq!(dedup.len(), pages.len());
            // Without a filter the listing covers everything, churned prefixes included.
            let everything = walk(Ipv4Addr::new(192, 0, 2, 7), "0.0.0.0/0", 1000);
            assert!(everything.len() >= total, "{}", everything.len());
            assert!(sorted_by_address(&everything));

            // 1,000 requests while routes churn, from 10 sources in parallel threads:
            // every answer is whole (received = accepted + rejected for every peer, the
            // established count within the total, pages ordered and inside the filter).
            let threads: Vec<_> = (0..10u8)
                .map(|t| {
                    std::thread::spawn(move || {
                        let source = Ipv4Addr::new(192, 0, 2, 4 + t);
                        let mut answered = 0;
                        let mut churned_seen = 0;
                        let mut i = 0;
                        while answered < 100 {
                            let path = match i % 3 {
                                0 => "/v1/peers".to_string(),
                                1 => "/v1/status".to_string(),
                                _ => "/v1/routes?prefix=10.22.0.0/16&limit=50".to_string(),
                            };
                            i += 1;
                            let answer = get(source, &path, Some(TOKEN));
                            if answer.status == 429 {
                                std::thread::sleep(Duration::from_millis(500));
                                continue;
                            }
                            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
                            let doc = answer.json();
                            if let Some(peers) = doc["peers"].as_array() {
                                for p in peers {
                                    let rejected: u64 = p["rejected"]
                                        .as_array()
                                        .unwrap()
                                        .iter()
                                        .map(|r| r["count"].as_u64().unwrap())
                                        .sum();
                                    assert_eq!(
                                        p["received"].as_u64().unwrap(),
                                        p["accepted"].as_u64().unwrap() + rejected,
                                        "torn counts: {p}"
                                    );
                                }
                            } else if let Some(routes) = doc["routes"].as_array() {
                                let prefixes: Vec<String> = routes
                                    .iter()
                                    .map(|r| r["prefix"].as_str().unwrap().to_string())
                                    .collect();
                                assert!(sorted_by_address(&prefixes), "{prefixes:?}");
                                assert!(prefixes.iter().all(|p| p.starts_with("10.22.")));
                                churned_seen += prefixes.len();
                            } else {
                                let est = doc["peers_established"].as_u64().unwrap();
                                assert!(est <= doc["peers_total"].as_u64().unwrap(), "{doc}");
                            }
                            answered += 1;
                        }
                        (answered, churned_seen)
                    })
                })
                .collect();
            let results: Vec<(usize, usize)> =
                threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert_eq!(results.iter().map(|r| r.0).sum::<usize>(), 1000);
            // The churn really ran: its prefixes were seen in the answers.
            assert!(
                results.iter().map(|r| r.1).sum::<usize>() > 0,
                "{results:?}"
            );

            // CLI output, volatile fields redacted.
            let (code, routes) = tool(dir, &["routes", "--within", "10.20.0.0/16", "--limit", "5"]);
            assert_eq!(code, 0);
            insta::assert_snapshot!("routes_page", routes);
            let (code, all) = tool(
                dir,
                &[
                    "routes",
                    "--within",
                    "10.20.0.0/22",
                    "--all",
                    "--limit",
                    "16",
                ],
            );
            assert_eq!(code, 0);
            assert_eq!(all.lines().count(), 1 + 64, "{all}");
            let (code, json) = tool(
                dir,
                &[
                    "routes",
                    "--within",
                    "10.20.0.0/16",
                    "--limit",
                    "2",
                    "--json",
                ],
            );
            assert_eq!(code, 0);
            insta::assert_snapshot!("routes_page_json", json);
            let (code, explain) = tool(dir, &["routes", "--prefix", "10.20.0.16/28"]);
            assert_eq!(code, 0);
            insta::assert_snapshot!("routes_explain", explain);
            let (code, peers) = tool(dir, &["peers"]);
            assert_eq!(code, 0);
            insta::assert_snapshot!("peers_table", redact_peers(&peers));
            let (code, status) = tool(dir, &["status"]);
            assert_eq!(code, 0);
            insta::assert_snapshot!("status_text", redact_status(&status));
            // The RR's SAM side: no claims yet, no tunnels.
            let (code, enrollment) = tool(dir, &["enrollment"]);
            assert_eq!(code, 0);
            insta::assert_snapshot!("enrollment_rr", enrollment);
            let (code, tunnels) = tool(dir, &["tunnels", "--json"]);
            assert_eq!(code, 0);
            let tunnels: Value = serde_json::from_str(&tunnels).unwrap();
            assert_eq!(tunnels["tunnels"], serde_json::json!([]), "{tunnels}");
            // A leaf condition on an RR is not met.
            assert_eq!(tool(dir, &["enrollment", "--require-ready"]).0, 1);
            // A prefix the router does not hold: condition not met.
            assert_eq!(tool(dir, &["routes", "--prefix", "203.0.113.0/24"]).0, 1);
        },
    );
}

#[test]
fn config_push_reverts_without_confirm_and_persists_with_it() {
    in_fresh_netns(
        "rdpush",
        "config_push_reverts_without_confirm_and_persists_with_it",
        || {
            topology();
            let scratch = Scratch::new();
            let dir = &scratch.0;
            let keys = dir.join("keys");
            let (code, _, err) =
                offline_tool(&["keygen".as_ref(), "--out".as_ref(), keys.as_os_str()]);
            assert_eq!(code, 0, "{err}");
            let public = std::fs::read_to_string(keys.join("owner.pub")).unwrap();
            let base = routerd_config(&system_tests::sha256_hex(TOKEN))
                .replace(DEV_TRUSTED_KEY, public.trim())
                .replace("[api]\n", "[api]\ntry_revert_secs = 10\n");
            // Serial 101 adds a peer: applied live, visible in /v1/status.
            let with_peer = base.replace(
                "[sam.rr]",
                "[[bgp.peers]]\naddress = \"192.0.2.9\"\nremote_as = 65000\nrr_client = true\n\n[sam.rr]",
            );
            assert_ne!(with_peer, base);
            let first = sign(dir, "first", &base, 100);
            let second = sign(dir, "second", &with_peer, 101);
            let elsewhere = sign(
                dir,
                "elsewhere",
                &with_peer.replace("192.0.2.1:7179", "192.0.2.1:7180"),
                102,
            );
            let running = dir.join("running.blob");
            std::fs::copy(&first, &running).unwrap();
            let trust = keys.join("owner.pub");
            let args: [&std::ffi::OsStr; 4] = [
                "--config-blob".as_ref(),
                running.as_os_str(),
                "--trust".as_ref(),
                trust.as_os_str(),
            ];
            let mut routerd = start_routerd_with(dir, &args);
            assert_eq!(status(dir)["config_serial"], 100);
            assert_eq!(status(dir)["peers_total"], 1);

            // Nothing to confirm yet.
            assert_eq!(tool(dir, &["config", "confirm"]).0, 1);

            // Push without confirm: the new config runs, then reverts by itself.
            let second_s = second.to_string_lossy().to_string();
            let (code, out) = tool(dir, &["config", "push", &second_s]);
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("trying serial 101 (was 100)"), "{out}");
            let st = status(dir);
            assert_eq!(st["config_serial"], 101, "{st}");
            assert_eq!(st["config_trial"]["serial"], 101, "{st}");
            assert_eq!(st["config_trial"]["previous_serial"], 100, "{st}");
            assert_eq!(st["peers_total"], 2, "the new peer is added live: {st}");
            // A second push while one is tried is refused.
            assert_eq!(tool(dir, &["config", "push", &second_s]).0, 1);
            let reverted = wait_for(20, || {
                let st = status(dir);
                (st["config_serial"] == 100).then_some(st)
            })
            .expect("no revert after try_revert_secs");
            assert!(reverted.get("config_trial").is_none(), "{reverted}");
            assert_eq!(reverted["peers_total"], 1, "{reverted}");
            assert_eq!(
                std::fs::read(&running).unwrap(),
                std::fs::read(&first).unwrap()
            );

            // A config that would no longer bind the address the push came in on is
            // refused at once; a tampered blob and a rollback are refused by verification.
            let (code, _) = tool(dir, &["config", "push", &elsewhere.to_string_lossy()]);
            assert_eq!(code, 1);
            let mut tampered = std::fs::read(&second).unwrap();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            let tampered_path = dir.join("tampered.blob");
            std::fs::write(&tampered_path, tampered).unwrap();
            assert_eq!(
                tool(dir, &["config", "push", &tampered_path.to_string_lossy()]).0,
                1
            );
            let refused = request(SOURCE, &post_blob(&std::fs::read(&tampered_path).unwrap()));
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(
                refused.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("signature"),
                "{}",
                refused.body
            );
            assert_eq!(status(dir)["config_serial"], 100);

            // Push and confirm: kept, written, and still there after a restart.
            assert_eq!(tool(dir, &["config", "push", &second_s]).0, 0);
            let (code, out) = tool(dir, &["config", "confirm"]);
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("confirmed serial 101"), "{out}");
            let st = status(dir);
            assert_eq!(st["config_serial"], 101);
            assert!(st.get("config_trial").is_none(), "{st}");
            assert_eq!(
                std::fs::read(&running).unwrap(),
                std::fs::read(&second).unwrap()
            );
            std::thread::sleep(Duration::from_secs(11));
            assert_eq!(
                status(dir)["config_serial"],
                101,
                "a confirmed config does not revert"
            );
            // Older serials are now refused as rollbacks.
            let rollback = request(SOURCE, &post_blob(&std::fs::read(&first).unwrap()));
            assert_eq!(rollback.status, 422, "{}", rollback.body);
            assert!(rollback.body.contains("rollback"), "{}", rollback.body);

            drop(routerd);
            routerd = start_routerd_with(dir, &args);
            let st = status(dir);
            assert_eq!(st["config_serial"], 101, "{st}");
            assert_eq!(st["peers_total"], 2, "{st}");
            drop(routerd);
        },
    );
}
