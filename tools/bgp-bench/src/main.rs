//! Side-by-side BGP route-reflector benchmark: routerd, BIRD, FRR, GoBGP

fn main() {}
