//! Shared fixtures: deterministic keys and a config that trusts them.

#![allow(dead_code)]

use routerd_config::{Config, SigningKey, TrustedKey, load_toml};

/// A fixed test signing key (never used outside tests).
pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The public half of `key(seed)` as a trusted key.
pub(crate) fn trusted(seed: u8) -> TrustedKey {
    TrustedKey(key(seed).verifying_key().to_bytes())
}

/// The golden fixture config, trusting exactly the keys of `seeds`.
pub(crate) fn config_trusting(seeds: &[u8]) -> Config {
    let mut config = load_toml(include_str!("../vectors/golden.toml"), "golden.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    config.trusted_keys = seeds.iter().map(|&s| trusted(s)).collect();
    config
}

pub(crate) const BOARD: &str = "pve-x86_64";
