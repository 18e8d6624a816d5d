//! The signed blob: golden bytes, tamper resistance, distinct refusal reasons, key
//! rotation and round trips.

mod common;

use common::{BOARD, config_trusting, key, trusted};
use proptest::prelude::*;
use routerd_config::blob::{HEADER_LEN, Header, KeyId, MAGIC};
use routerd_config::{
    Config, Provenance, REDACTED, SignError, TrustedKeys, VerifyError, sign, verify,
};

const GOLDEN: &[u8] = include_bytes!("vectors/golden-serial42.blob");
const GOLDEN_PATH: &str = "tests/vectors/golden-serial42.blob";

fn trust(seeds: &[u8]) -> TrustedKeys {
    TrustedKeys::new(&seeds.iter().map(|&s| trusted(s)).collect::<Vec<_>>()).unwrap()
}

/// Signs arbitrary payload bytes with a valid header, bypassing `sign`'s validation.
fn sign_raw(payload: &[u8], seed: u8, board: &str, serial: u64) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let header = Header {
        serial,
        board: board.try_into().unwrap(),
        key_id: KeyId::of(key(seed).verifying_key().as_bytes()),
        payload_len: payload.len() as u32,
    };
    let mut out = header.emit().to_vec();
    out.extend_from_slice(payload);
    let signature = key(seed).sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

#[test]
fn golden_blob_bytes_are_stable() {
    let config = config_trusting(&[1]);
    let blob = sign(&config, &key(1), 42).unwrap();
    if std::env::var_os("ROUTERD_UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN_PATH, &blob).unwrap();
    }
    assert_eq!(
        blob, GOLDEN,
        "blob encoding changed; if intended, regenerate {GOLDEN_PATH}"
    );
}

#[test]
fn golden_blob_verifies_and_decodes_to_the_fixture() {
    let verified = verify(GOLDEN, &trust(&[1]), BOARD, 0, false).unwrap();
    assert_eq!(*verified, config_trusting(&[1]));
    assert_eq!(verified.serial(), 42);
    assert_eq!(verified.board(), BOARD);
    let id = KeyId::of(&trusted(1).0);
    assert_eq!(
        verified.provenance(),
        Provenance::Signed {
            key_id: id,
            serial: 42
        }
    );
    let header = Header::parse(GOLDEN).unwrap();
    assert_eq!(&GOLDEN[..8], &MAGIC);
    assert_eq!(header.serial, 42);
    assert_eq!(header.key_id, id);
    assert_eq!(GOLDEN.len(), HEADER_LEN + header.payload_len as usize + 64);
}

#[test]
fn every_single_byte_flip_is_refused() {
    let trust = trust(&[1]);
    for i in 0..GOLDEN.len() {
        for mask in [0x01u8, 0xff] {
            let mut bad = GOLDEN.to_vec();
            bad[i] ^= mask;
            let result = verify(&bad, &trust, BOARD, 0, false);
            assert!(result.is_err(), "flip {mask:#04x} at byte {i} accepted");
        }
    }
}

#[test]
fn wrong_key_rollback_truncation_and_board_have_distinct_reasons() {
    let blob = sign(&config_trusting(&[1]), &key(1), 10).unwrap();
    let reasons = [
        verify(&blob, &trust(&[2]), BOARD, 0, false).unwrap_err(),
        verify(&blob, &trust(&[1]), BOARD, 11, false).unwrap_err(),
        verify(&blob[..blob.len() - 1], &trust(&[1]), BOARD, 0, false).unwrap_err(),
        verify(&blob[..10], &trust(&[1]), BOARD, 0, false).unwrap_err(),
        verify(&blob, &trust(&[1]), "rpi4", 0, false).unwrap_err(),
        verify(
            &[blob.clone(), vec![0]].concat(),
            &trust(&[1]),
            BOARD,
            0,
            false,
        )
        .unwrap_err(),
    ];
    assert!(
        matches!(reasons[0], VerifyError::UnknownKey(_)),
        "{}",
        reasons[0]
    );
    assert_eq!(
        reasons[1],
        VerifyError::Rollback {
            serial: 10,
            last: 11
        }
    );
    assert!(
        matches!(reasons[2], VerifyError::Truncated { .. }),
        "{}",
        reasons[2]
    );
    assert!(
        matches!(reasons[3], VerifyError::Truncated { len: 10, .. }),
        "{}",
        reasons[3]
    );
    assert!(
        matches!(reasons[4], VerifyError::WrongBoard { .. }),
        "{}",
        reasons[4]
    );
    assert_eq!(reasons[5], VerifyError::TrailingBytes(1));
    let mut names: Vec<_> = reasons.iter().map(VerifyError::reason).collect();
    names.dedup();
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn header_damage_has_its_own_reasons() {
    let mut bad = GOLDEN.to_vec();
    bad[0] = b'X';
    assert_eq!(
        verify(&bad, &trust(&[1]), BOARD, 0, false),
        Err(VerifyError::BadMagic)
    );
    let mut bad = GOLDEN.to_vec();
    bad[8] = 1;
    assert_eq!(
        verify(&bad, &trust(&[1]), BOARD, 0, false),
        Err(VerifyError::UnsupportedVersion(1)),
        "a blob of the earlier payload schema is refused, not misread"
    );
    let mut bad = GOLDEN.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        verify(&bad, &trust(&[1]), BOARD, 0, false),
        Err(VerifyError::BadSignature)
    );
    let mut bad = GOLDEN.to_vec();
    bad[HEADER_LEN + 3] ^= 1;
    assert_eq!(
        verify(&bad, &trust(&[1]), BOARD, 0, false),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn equal_serial_is_accepted_and_factory_reset_allows_rollback() {
    let blob = sign(&config_trusting(&[1]), &key(1), 10).unwrap();
    assert!(verify(&blob, &trust(&[1]), BOARD, 10, false).is_ok());
    assert!(verify(&blob, &trust(&[1]), BOARD, 99, true).is_ok());
}

#[test]
fn signed_garbage_and_signed_invalid_configs_are_refused() {
    let garbage = sign_raw(&[0xff; 40], 1, BOARD, 1);
    let err = verify(&garbage, &trust(&[1]), BOARD, 0, false).unwrap_err();
    assert_eq!(err.reason(), "payload-decode", "{err}");

    let mut invalid: Config = config_trusting(&[1]);
    invalid.node.asn = 0;
    let payload = postcard_bytes(&invalid);
    let err = verify(
        &sign_raw(&payload, 1, BOARD, 1),
        &trust(&[1]),
        BOARD,
        0,
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&err, VerifyError::InvalidConfig(e) if e[0].path == "node.asn"),
        "{err}"
    );

    let other_board = postcard_bytes(&config_trusting(&[1]));
    let err = verify(
        &sign_raw(&other_board, 1, "rpi4", 1),
        &trust(&[1]),
        "rpi4",
        0,
        false,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "invalid-config", "{err}");
}

fn postcard_bytes(config: &Config) -> Vec<u8> {
    postcard::to_allocvec(config).unwrap()
}

#[test]
fn sign_refuses_an_invalid_config() {
    let mut config = config_trusting(&[1]);
    config.trusted_keys.clear();
    assert!(matches!(
        sign(&config, &key(1), 1),
        Err(SignError::Invalid(_))
    ));
}

#[test]
fn key_rotation_moves_trust_to_the_keys_the_config_lists() {
    // Serial 1: signed by key 1, hands trust over to keys 2 and 3.
    let first = sign(&config_trusting(&[2, 3]), &key(1), 1).unwrap();
    let applied = verify(&first, &trust(&[1]), BOARD, 0, false).unwrap();
    let next_trust = applied.next_trust();
    // Serial 2 signed by the new key 2 is accepted; one signed by the old key 1 is not.
    let by_new = sign(&config_trusting(&[2]), &key(2), 2).unwrap();
    assert!(verify(&by_new, &next_trust, BOARD, applied.serial(), false).is_ok());
    let by_old = sign(&config_trusting(&[1]), &key(1), 2).unwrap();
    assert!(matches!(
        verify(&by_old, &next_trust, BOARD, applied.serial(), false),
        Err(VerifyError::UnknownKey(_))
    ));
}

#[test]
fn redacted_view_hides_every_secret() {
    let config = config_trusting(&[1]);
    let text = toml::to_string(&config.redacted()).unwrap();
    let leaf = config.sam.leaf.as_ref().unwrap();
    assert!(!text.contains(leaf.join_token.expose().as_str()));
    let wg = config.transport.wireguard.as_ref().unwrap();
    assert!(!text.contains(&wg.private_key.expose().to_string()));
    assert_eq!(text.matches(REDACTED).count(), 2, "{text}");
    let full = toml::to_string(&config.to_table()).unwrap();
    assert!(full.contains(leaf.join_token.expose().as_str()));
    // The full table is the config again.
    let back: Config = toml::from_str(&full).unwrap();
    assert_eq!(back, config);
}

fn arb_config() -> impl Strategy<Value = Config> {
    let base = config_trusting(&[1]);
    (
        "[a-z][a-z0-9-]{0,20}",
        1u32..64000,
        any::<[u8; 4]>(),
        prop::collection::vec(any::<u8>(), 0..20),
        prop::option::of(1u16..3600),
        any::<bool>(),
        prop::option::of(576u16..9000),
    )
        .prop_map(
            move |(name, asn, id, owned, keepalive, has_endpoint, mtu)| {
                let mut c = base.clone();
                c.node.name = name.as_str().try_into().unwrap();
                c.node.asn = asn;
                c.node.router_id = std::net::Ipv4Addr::from(id);
                let leaf = c.sam.leaf.as_mut().unwrap();
                let mut seen = std::collections::BTreeSet::new();
                leaf.claim.owned = owned
                    .into_iter()
                    .filter(|o| seen.insert(*o))
                    .map(|o| format!("10.20.4.{o}/32").parse().unwrap())
                    .filter(|n: &ipnet::Ipv4Net| n.addr() != leaf.claim.tunnel_address)
                    .collect();
                leaf.claim.underlay_endpoint =
                    has_endpoint.then(|| "198.51.100.7".parse().unwrap());
                c.transport.wireguard.as_mut().unwrap().persistent_keepalive =
                    keepalive.or(Some(25));
                c.interfaces[1].mtu = mtu;
                for p in &mut c.bgp.peers {
                    p.remote_as = asn;
                }
                c
            },
        )
        .prop_filter("valid", |c| routerd_config::validate(c).is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_then_verify_round_trips(config in arb_config(), serial in any::<u64>()) {
        let blob = sign(&config, &key(1), serial).unwrap();
        let verified = verify(&blob, &trust(&[1]), BOARD, serial, false).unwrap();
        prop_assert_eq!(&*verified, &config);
        prop_assert_eq!(verified.serial(), serial);
        let toml_text = toml::to_string(&config.to_table()).unwrap();
        let again = routerd_config::load_toml(&toml_text, "round.toml").unwrap();
        prop_assert_eq!(again, config);
    }

    #[test]
    fn arbitrary_bytes_never_verify_or_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(verify(&bytes, &trust(&[1]), BOARD, 0, false).is_err());
    }
}
