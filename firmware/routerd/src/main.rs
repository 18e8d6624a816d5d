//! routerd: the router daemon and init

fn main() {}
