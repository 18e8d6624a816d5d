//! SAM enrollment: leaf claims, RR admission, authenticated RR sets (sans-IO)
