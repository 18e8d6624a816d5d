//! Canonical encodings byte by byte (the layouts documented in `docs/sam.md`), JSON
//! transport round trips and digests.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::answer::{ANSWER_VERSION, Answer, Reply};
use crate::fixtures::*;
use crate::token::JoinToken;

#[test]
fn claim_canonical_layout_matches_the_documentation() {
    let claim = Claim::new(subject(1), nonce(7), 0x0102_0304_0506_0708);
    let mut expected = Vec::new();
    expected.extend_from_slice(b"SAMC");
    expected.push(2);
    expected.extend_from_slice(&[0, 6]);
    expected.extend_from_slice(b"leaf-1");
    expected.extend_from_slice(&[0, 5]);
    expected.extend_from_slice(b"sites");
    expected.extend_from_slice(&[10, 255, 1, 1]);
    expected.extend_from_slice(&[1, 203, 0, 113, 101, 0xca, 0x6c]);
    expected.extend_from_slice(&[0, 1, 198, 51, 100, 1, 32]);
    expected.extend_from_slice(&65000u32.to_be_bytes());
    expected.extend_from_slice(&[10, 255, 1, 1]);
    expected.push(1);
    expected.extend_from_slice(&[1; 32]);
    expected.extend_from_slice(&[10, 254, 1, 1]);
    expected.extend_from_slice(&nonce(7).0);
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(claim.canonical_bytes().unwrap(), expected);

    let mut nat = subject(1);
    nat.underlay_endpoint = None;
    nat.wireguard_key = None;
    nat.wireguard_address = None;
    nat.owned.clear();
    let bytes = Claim::new(nat, nonce(7), 0).canonical_bytes().unwrap();
    assert_eq!(bytes.len(), 5 + 8 + 7 + 4 + 1 + 2 + 4 + 4 + 1 + 16 + 8);
    assert_eq!(&bytes[24..27], &[0, 0, 0], "no endpoint, no owned routes");
}

/// The example of `docs/sam.md` §2.1 and §3.1, byte for byte.
#[test]
fn documented_example_vector() {
    let token = JoinToken::new(b"example-join-token-0123").unwrap();
    let subject = ClaimSubject {
        leaf_id: LeafId::new("leaf-a").unwrap(),
        policy: PolicyName::new("sites").unwrap(),
        tunnel_address: Ipv4Addr::new(10, 255, 1, 10),
        underlay_endpoint: None,
        owned: vec![net("198.51.100.10/32"), net("198.51.100.11/32")],
        asn: 65000,
        router_id: Ipv4Addr::new(10, 255, 1, 10),
        wireguard_key: Some(WireGuardKey([0x11; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 254, 1, 10)),
    };
    let request = Claim::new(subject, Nonce([0x42; 16]), 1_800_000_000)
        .sign(&token)
        .unwrap();
    let canonical = crate::hex::encode(&request.claim.canonical_bytes().unwrap());
    let documented = concat!(
        "53414d43",
        "02",
        "0006",
        "6c6561662d61",
        "0005",
        "7369746573",
        "0aff010a",
        "00",
        "0002",
        "c633640a20",
        "c633640b20",
        "0000fde8",
        "0aff010a",
        "01",
        "1111111111111111111111111111111111111111111111111111111111111111",
        "0afe010a",
        "42424242424242424242424242424242",
        "000000006b49d200",
    );
    assert_eq!(canonical, documented);
    assert_eq!(
        crate::hex::encode(&request.mac.0),
        "342c40b8fab4bb58de21cf460965d43a829e2e9806df8eb2962784fdc1c70b73"
    );
    assert_eq!(
        crate::hex::encode(&request.digest().unwrap().0),
        "4ad4ea010ad46c878efc930d30ea8a777a87ca81295a2d310eb8560068676906"
    );
}

#[test]
fn every_field_changes_the_canonical_bytes() {
    let base = Claim::new(subject(1), nonce(1), NOW);
    let variants: [fn(&mut Claim); 13] = [
        |c| c.subject.leaf_id = LeafId::new("leaf-x").unwrap(),
        |c| c.subject.policy = PolicyName::new("sitez").unwrap(),
        |c| c.subject.tunnel_address = Ipv4Addr::new(10, 255, 1, 2),
        |c| c.subject.underlay_endpoint = None,
        (|c| {
            c.subject.underlay_endpoint =
                Some(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 101), 1))
        }),
        |c| c.subject.owned.clear(),
        |c| c.subject.owned = vec![net("198.51.100.1/31")],
        |c| c.subject.asn = 65001,
        |c| c.subject.router_id = Ipv4Addr::new(1, 1, 1, 1),
        (|c| {
            c.subject.wireguard_key = None;
            c.subject.wireguard_address = None;
        }),
        |c| c.subject.wireguard_address = Some(Ipv4Addr::new(10, 254, 9, 9)),
        |c| c.nonce = nonce(2),
        |c| c.timestamp += 1,
    ];
    let original = base.canonical_bytes().unwrap();
    for (i, change) in variants.iter().enumerate() {
        let mut claim = base.clone();
        change(&mut claim);
        assert_ne!(claim.canonical_bytes().unwrap(), original, "variant {i}");
    }
}

#[test]
fn json_round_trip_and_strict_parsing() {
    let request = request(subject(1), 1, NOW);
    let json = request.to_json();
    assert_eq!(EnrollRequest::from_json(&json).unwrap(), request);
    let text = String::from_utf8(json).unwrap();
    assert!(text.contains("\"owned\":[\"198.51.100.1/32\"]"), "{text}");
    assert!(
        text.contains("\"underlay_endpoint\":\"203.0.113.101:51820\""),
        "{text}"
    );

    let extra = text.replacen("\"asn\":", "\"admin\":true,\"asn\":", 1);
    assert!(matches!(
        EnrollRequest::from_json(extra.as_bytes()),
        Err(MalformedRequest::Json(_))
    ));
    let v1 = text.replacen("\"version\":2", "\"version\":1", 1);
    assert!(matches!(
        EnrollRequest::from_json(v1.as_bytes()),
        Err(MalformedRequest::Shape(ShapeError::Version(1)))
    ));
    let half = text.replacen(
        "\"wireguard_address\":\"10.254.1.1\"",
        "\"wireguard_address\":null",
        1,
    );
    assert!(matches!(
        EnrollRequest::from_json(half.as_bytes()),
        Err(MalformedRequest::Shape(ShapeError::WireGuardHalf))
    ));
    let big = vec![b'x'; MAX_REQUEST_BYTES + 1];
    assert_eq!(
        EnrollRequest::from_json(&big),
        Err(MalformedRequest::TooLarge(big.len()))
    );
}

#[test]
fn digest_names_claim_and_mac() {
    let a = request(subject(1), 1, NOW);
    let b = request(subject(1), 2, NOW);
    assert_ne!(a.digest().unwrap(), b.digest().unwrap());
    let mut c = a.clone();
    c.mac.0[0] ^= 1;
    assert_ne!(a.digest().unwrap(), c.digest().unwrap());
    assert!(a.verify(&token()) && !c.verify(&token()));
    assert!(a.digest().unwrap().to_string().starts_with("sha256:"));
}

#[test]
fn answer_canonical_layout_and_nonce_binding() {
    let answer = fixture_answer();
    let mut expected = Vec::new();
    expected.extend_from_slice(b"SAMA\x02");
    expected.extend_from_slice(b"\x00\x06leaf-1\x00\x05sites");
    expected.extend_from_slice(&[0x55; 32]);
    expected.extend_from_slice(&65000u32.to_be_bytes());
    expected.extend_from_slice(&[10, 255, 0, 254]);
    expected.extend_from_slice(&1000u64.to_be_bytes());
    expected.extend_from_slice(&4600u64.to_be_bytes());
    expected.extend_from_slice(&[0, 2]);
    for n in 1..=2u8 {
        expected.extend_from_slice(&[10, 255, 0, n, 203, 0, 113, n, 0xca, 0x6c, 10, 255, 0, n, 1]);
        expected.extend_from_slice(&[0xa0 + n; 32]);
        expected.extend_from_slice(&[10, 254, 0, n]);
    }
    assert_eq!(answer.canonical_bytes().unwrap(), expected);

    let signed = answer.clone().sign(&token(), &nonce(1)).unwrap();
    assert_eq!(signed.mac, token().sign(&[&expected, &nonce(1).0]));
    assert!(signed.verify(&token(), &nonce(1)));
    assert!(!signed.verify(&token(), &nonce(2)));
    let parsed = Reply::from_json(&signed.to_json()).unwrap();
    assert_eq!(parsed, Reply::Answer(signed));

    let empty = Answer {
        rr_set: RrSet {
            route_reflectors: vec![],
            ..rr_set()
        },
        ..answer.clone()
    };
    assert!(empty.canonical_bytes().is_err());
    let backwards = Answer {
        expires_at: 1000,
        ..answer
    };
    assert!(backwards.canonical_bytes().is_err());
    let mut half = fixture_answer();
    half.rr_set.route_reflectors[1].wireguard_address = None;
    assert_eq!(
        half.canonical_bytes(),
        Err(crate::answer::AnswerShapeError::WireGuardHalf(
            Ipv4Addr::new(10, 255, 0, 2)
        ))
    );
}

/// An answer for leaf 1 with the fixture RR set, issued at 1000 for an hour.
fn fixture_answer() -> Answer {
    Answer {
        version: ANSWER_VERSION,
        leaf_id: LeafId::new("leaf-1").unwrap(),
        policy: PolicyName::new("sites").unwrap(),
        claim_digest: ClaimDigest([0x55; 32]),
        rr_set: rr_set(),
        issued_at: 1000,
        expires_at: 4600,
    }
}

use crate::answer::RrSet;

/// The answer example of `docs/sam.md` §2.2: its MAC over the canonical answer and the
/// nonce of the example request of §2.1.
#[test]
fn documented_example_answer_vector() {
    let token = JoinToken::new(b"example-join-token-0123").unwrap();
    let rr = |n: u8| crate::answer::RrNode {
        router_id: Ipv4Addr::new(10, 255, 0, n),
        underlay_endpoint: SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, n), 51820),
        tunnel_address: Ipv4Addr::new(10, 255, 0, n),
        wireguard_key: Some(WireGuardKey([0xa0 + n; 32])),
        wireguard_address: Some(Ipv4Addr::new(10, 254, 0, n)),
    };
    let digest = crate::hex::decode_array::<32>(
        "4ad4ea010ad46c878efc930d30ea8a777a87ca81295a2d310eb8560068676906",
    )
    .unwrap();
    let answer = Answer {
        version: ANSWER_VERSION,
        leaf_id: LeafId::new("leaf-a").unwrap(),
        policy: PolicyName::new("sites").unwrap(),
        claim_digest: ClaimDigest(digest),
        rr_set: RrSet {
            asn: 65000,
            cluster_id: Ipv4Addr::new(10, 255, 0, 254),
            route_reflectors: vec![rr(1), rr(2)],
        },
        issued_at: 1_800_000_005,
        expires_at: 1_800_086_405,
    };
    let signed = answer.sign(&token, &Nonce([0x42; 16])).unwrap();
    assert_eq!(
        crate::hex::encode(&signed.mac.0),
        "a8b74bd1827731f999bd5ffe0cf94286425cc53228a5c0ba719a03cbe3c1c58a"
    );
}
