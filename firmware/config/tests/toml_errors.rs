//! Problems in TOML text are reported with file, line, column, field path and a fix,
//! and the validator's rules each fire on the config that breaks them.

use routerd_config::{ConfigError, check_toml, load_toml};

const LEAF: &str = include_str!("../../../examples/leaf.toml");
const RR: &str = include_str!("../../../examples/rr.toml");

/// Replaces the first occurrence of `from` in `base` (which must exist).
fn edit(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "test edit target `{from}` missing");
    base.replacen(from, to, 1)
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

fn errors(text: &str) -> Vec<ConfigError> {
    check_toml(text, "cfg.toml").expect_err("config must be refused")
}

fn has(errors: &[ConfigError], path: &str) -> bool {
    errors.iter().any(|e| e.path == path)
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let text = edit(LEAF, "hold_time = 30", "hold_time = = 30");
    let err = load_toml(&text, "leaf.toml").unwrap_err();
    let loc = err.location.clone().unwrap();
    assert_eq!(loc.file, "leaf.toml");
    assert_eq!(loc.line, line_of(&text, "hold_time = ="));
    assert!(
        err.to_string()
            .starts_with(&format!("leaf.toml:{}:", loc.line)),
        "{err}"
    );
}

#[test]
fn interface_name_longer_than_ifnamsiz_is_refused_at_its_position() {
    let text = edit(LEAF, "name = \"wan0\"", "name = \"wan0-much-too-long\"");
    let err = load_toml(&text, "leaf.toml").unwrap_err();
    assert_eq!(err.path, "interfaces[0].name", "{err}");
    assert_eq!(
        err.location.as_ref().unwrap().line,
        line_of(&text, "wan0-much")
    );
    assert!(err.problem.contains("15"), "{err}");
    assert!(!err.fix.is_empty());
}

#[test]
fn unknown_field_is_refused_with_its_path() {
    let text = edit(RR, "hold_time = 90", "hold_time = 90\nhold_tiem = 30");
    let err = load_toml(&text, "rr.toml").unwrap_err();
    assert!(err.path.starts_with("bgp"), "{err}");
    assert!(err.problem.contains("hold_tiem"), "{err}");
    assert_eq!(
        err.location.as_ref().unwrap().line,
        line_of(&text, "hold_tiem")
    );
}

#[test]
fn validation_error_points_at_the_offending_array_element() {
    let text = edit(
        RR,
        "[sam.rr]",
        "[[bgp.peers]]\naddress = \"192.0.2.1\"\nremote_as = 65001\n\n[[bgp.peers]]\naddress = \"10.99.0.7\"\nremote_as = 65000\n\n[sam.rr]",
    );
    let errs = errors(&text);
    let err = errs
        .iter()
        .find(|e| e.path == "bgp.peers[1].address")
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(err.problem.contains("per-leaf"), "{err}");
    assert_eq!(
        err.location.as_ref().unwrap().line,
        line_of(&text, "\"10.99.0.7\"")
    );
    assert!(
        !has(&errs, "bgp.peers[0].address"),
        "a non-leaf peer is fine on an RR"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = edit(
        &edit(LEAF, "asn = 65000", "asn = 0"),
        "router_id = \"10.99.0.14\"",
        "router_id = \"0.0.0.0\"",
    );
    let errs = errors(&text);
    assert!(
        has(&errs, "node.asn") && has(&errs, "node.router_id"),
        "{errs:?}"
    );
}

#[test]
fn rr_with_static_claims_is_refused() {
    let text = format!(
        "{RR}\n[sam.leaf]\nrr = [{{ enrollment = \"203.0.113.10:4179\" }}]\njoin_token = \"0123456789abcdef0123\"\nleaf_id = \"x\"\npolicy = \"sites\"\n[sam.leaf.claim]\ntunnel_address = \"10.99.0.9\"\n"
    );
    assert!(has(&errors(&text), "sam.leaf"));
}

#[test]
fn rr_tunnel_prefix_outside_dynamic_ranges_is_refused() {
    let text = edit(
        RR,
        "tunnel_prefix = \"10.99.0.0/24\"",
        "tunnel_prefix = \"10.97.0.0/24\"",
    );
    assert!(has(&errors(&text), "sam.rr.policies[0].tunnel_prefix"));
}

#[test]
fn leaf_without_rr_endpoints_is_refused() {
    let text = edit(
        LEAF,
        "rr = [{ enrollment = \"203.0.113.10:4179\" }]",
        "rr = []",
    );
    assert!(has(&errors(&text), "sam.leaf.rr"));
}

#[test]
fn wildcard_api_bind_needs_an_allowlist() {
    let api = "\n[api]\nbind = [\"0.0.0.0:8080\"]\ntoken_sha256 = \"87f96588914585c614f4188a6402d5c2557b7023b1b05b9aeb60f3d0681f3a18\"\n";
    let errs = errors(&format!("{LEAF}{api}"));
    assert!(has(&errs, "api.bind[0]"), "{errs:?}");
    let allowed = format!("{LEAF}{api}allow_sources = [\"198.51.100.0/24\"]\n");
    load_toml(&allowed, "leaf.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn api_request_rates_default_and_are_bounded() {
    let api = "\n[api]\nbind = [\"127.0.0.1:8080\"]\ntoken_sha256 = \"87f96588914585c614f4188a6402d5c2557b7023b1b05b9aeb60f3d0681f3a18\"\n";
    let config = load_toml(&format!("{LEAF}{api}"), "leaf.toml").unwrap_or_else(|e| panic!("{e}"));
    let limits = config.api.map(|a| (a.rate_per_second, a.rate_burst));
    assert_eq!(limits, Some((30, 60)));
    let set = format!("{LEAF}{api}rate_per_second = 5\nrate_burst = 10\n");
    let config = load_toml(&set, "leaf.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.api.map(|a| (a.rate_per_second, a.rate_burst)),
        Some((5, 10))
    );
    let zero = format!("{LEAF}{api}rate_per_second = 0\nrate_burst = 10001\n");
    let errs = errors(&zero);
    assert!(has(&errs, "api.rate_per_second"), "{errs:?}");
    assert!(has(&errs, "api.rate_burst"), "{errs:?}");
}

#[test]
fn wireguard_mode_without_key_is_refused() {
    let text = LEAF
        .split("[transport.wireguard]")
        .next()
        .unwrap()
        .to_string();
    assert!(has(&errors(&text), "transport.wireguard"));
}

#[test]
fn natted_leaf_needs_keepalive_and_wireguard() {
    let text = edit(LEAF, "persistent_keepalive = 25", "");
    assert!(has(
        &errors(&text),
        "transport.wireguard.persistent_keepalive"
    ));
}

#[test]
fn duplicate_interface_names_are_refused() {
    let text = edit(LEAF, "name = \"lan0\"", "name = \"wan0\"");
    assert!(has(&errors(&text), "interfaces[1].name"));
}

#[test]
fn prefixes_with_host_bits_and_non_host_claims_are_refused() {
    let text = edit(RR, "prefix = \"10.99.0.0/24\"", "prefix = \"10.99.0.1/24\"");
    assert!(has(&errors(&text), "bgp.dynamic[0].prefix"));
    let text = edit(
        LEAF,
        "owned = [\"10.20.4.10/32\"]",
        "owned = [\"10.20.4.0/24\"]",
    );
    assert!(has(&errors(&text), "sam.leaf.claim.owned[0]"));
    let text = edit(
        LEAF,
        "owned = [\"10.20.4.10/32\"]",
        "owned = [\"10.20.4.300/32\"]",
    );
    let err = load_toml(&text, "leaf.toml").unwrap_err();
    assert_eq!(err.path, "sam.leaf.claim.owned[0]", "{err}");
}

#[test]
fn undefined_policy_reference_is_refused() {
    let text = edit(RR, "import = \"leaf-routes\"", "import = \"leaf-route\"");
    assert!(has(&errors(&text), "bgp.dynamic[0].template.import"));
}

#[test]
fn bad_ge_le_is_refused() {
    let text = edit(RR, "ge = 32, le = 32", "ge = 33, le = 32");
    assert!(has(&errors(&text), "bgp.policies[0].rules[0].prefixes[0]"));
}

#[test]
fn missing_field_suggests_adding_it() {
    let text = edit(LEAF, "asn = 65000\n", "");
    let err = load_toml(&text, "leaf.toml").unwrap_err();
    assert!(err.problem.contains("asn"), "{err}");
    assert!(err.fix.contains("asn"), "{err}");
}

#[test]
fn second_rr_needs_its_wireguard_key_address_and_a_distinct_tunnel_address() {
    let second = "\n[[sam.rr.other_rrs]]\nrouter_id = \"10.99.0.2\"\nendpoint = \"203.0.113.11\"\ntunnel_address = \"10.99.0.1\"\n";
    let text = edit(RR, "\n[transport]", &format!("{second}\n[transport]"));
    let errs = errors(&text);
    assert!(
        has(&errs, "sam.rr.other_rrs[0].wireguard_public_key"),
        "{errs:?}"
    );
    assert!(
        has(&errs, "sam.rr.other_rrs[0].wireguard_address"),
        "{errs:?}"
    );
    assert!(has(&errs, "sam.rr.other_rrs[0].tunnel_address"), "{errs:?}");
    let same_wg = text.replace(
        "tunnel_address = \"10.99.0.1\"\n\n[transport]",
        "tunnel_address = \"10.99.0.2\"\nwireguard_public_key = \"cccq5o7xrQN4bo7TPf5nT2J9n340++2ubwmweElj5nA=\"\nwireguard_address = \"10.98.0.1\"\n\n[transport]",
    );
    assert!(
        has(&errors(&same_wg), "sam.rr.other_rrs[0].wireguard_address"),
        "the RR's own WireGuard address is taken"
    );
    let fixed = same_wg.replace(
        "wireguard_address = \"10.98.0.1\"\n\n[transport]",
        "wireguard_address = \"10.98.0.2\"\n\n[transport]",
    );
    load_toml(&fixed, "rr.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn wireguard_prefix_stays_apart_from_tunnel_and_client_prefixes() {
    load_toml(RR, "rr.toml").unwrap_or_else(|e| panic!("{e}"));
    for clash in ["10.20.0.0/24", "10.99.0.0/16"] {
        let text = edit(
            RR,
            "wireguard_prefix = \"10.98.0.0/24\"",
            &format!("wireguard_prefix = \"{clash}\""),
        );
        assert!(
            has(&errors(&text), "sam.rr.policies[0].wireguard_prefix"),
            "{clash}"
        );
    }
}

#[test]
fn clock_skew_must_stay_below_the_claim_ttl() {
    let text = edit(
        RR,
        "max_leaves = 64",
        "max_leaves = 64\nmax_clock_skew_secs = 90000",
    );
    assert!(has(
        &errors(&text),
        "sam.rr.policies[0].max_clock_skew_secs"
    ));
}
