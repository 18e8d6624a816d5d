//! routerd-tool: provision, inspect, status and demo commands

fn main() {}
