//! Configuration schema, validation and the ed25519-signed config blob (sans-IO)
