//! `routerd-tool inspect`: verifies a signed config blob (a file, or the config partition
//! of a disk image or block device) and prints what it holds.
//!
//! Verification is the router's own ([`config::verify`]): the same signature, board and
//! validation checks. Secrets are redacted unless `--show-secrets` is given.
//!
//! Exit codes: 0 verified, 1 refused (the reason is printed), 2 usage or I/O error.

use std::io::Read;
use std::path::{Path, PathBuf};

use config::blob::{HEADER_LEN, MAGIC, MAX_PAYLOAD_LEN, SIGNATURE_LEN};
use config::{Config, Mode, Verified, VerifyError, blob::Blob};
use serde_json::json;

use crate::keygen::read_trust;
use crate::provision::stored_blob;

/// Arguments of `routerd-tool inspect`.
#[derive(clap::Args)]
#[command(
    about = "Verify a signed config blob or image and print it",
    after_help = concat!(
        "Verify a signed config blob, or the newest config in the `routerd-config` \
        partition of a disk image or block device, exactly as the router does at boot, then \
        print its mode, serial, signing key id, board and the configuration (secrets redacted).\n\n\
        On failure the reason is printed (e.g. `bad-signature`, `unknown-key`, `wrong-board`, \
        `truncated`) and the exit code is 1.",
        "\n\nExamples:\n  \
        routerd-tool inspect leaf.blob --trust keys/owner.pub\n  \
        routerd-tool inspect disk.img --trust keys/owner.pub --json\n\n\
        Exit codes: 0 verified, 1 refused, 2 usage or I/O error."
    )
)]
pub(crate) struct Args {
    /// A signed blob file, or a disk image / block device with a `routerd-config` partition.
    #[arg(value_name = "BLOB|IMAGE")]
    input: PathBuf,
    /// Trusted public key: an owner.pub file (one hex key per line) or the 64 hex digits.
    #[arg(long, value_name = "PUBKEY")]
    trust: String,
    /// Board this device is [default: the board named in the blob].
    #[arg(long, value_name = "B")]
    board: Option<String>,
    /// Refuse blobs with a serial below N, as a router that applied serial N would.
    #[arg(long, value_name = "N", default_value_t = 0)]
    last_serial: u64,
    /// Print JSON (for scripts) instead of text.
    #[arg(long)]
    json: bool,
    /// Print secrets (WireGuard private key, join tokens) instead of redacting them.
    #[arg(long)]
    show_secrets: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    let trust = match read_trust(&args.trust) {
        Ok(trust) => trust,
        Err(e) => return usage(&e),
    };
    let bytes = match read_blob_file(&args.input) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => match stored_blob(&args.input) {
            Ok(bytes) => bytes,
            Err(e) => {
                return usage(&format!(
                    "{} is neither a config blob nor an image with a stored config: {e}",
                    args.input.display()
                ));
            }
        },
        Err(e) => return usage(&format!("cannot read {}: {e}", args.input.display())),
    };
    let board = args.board.clone().or_else(|| {
        Blob::parse(&bytes)
            .ok()
            .map(|b| b.header().board.to_string())
    });
    let board = board.unwrap_or_default();
    match config::verify(&bytes, &trust, &board, args.last_serial, false) {
        Ok(verified) => {
            print_verified(&args, &verified);
            0
        }
        Err(e) => {
            refused(&args, &e);
            1
        }
    }
}

/// The file's bytes when it starts like a blob; `None` for anything else (an image or a
/// device is then read through its partition table, never whole).
fn read_blob_file(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 8];
    if file.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Ok(None);
    }
    let mut bytes = magic.to_vec();
    let limit = (HEADER_LEN + MAX_PAYLOAD_LEN + SIGNATURE_LEN) as u64;
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

fn usage(message: &str) -> i32 {
    eprintln!("error: {message}");
    2
}

fn refused(args: &Args, error: &VerifyError) {
    if args.json {
        println!(
            "{}",
            json!({ "verified": false, "reason": error.reason(), "error": error.to_string() })
        );
    }
    eprintln!("refused: {} ({error})", error.reason());
    if let VerifyError::InvalidConfig(problems) = error {
        for p in problems {
            eprintln!("  {p}");
        }
    }
}

/// Counts that show the shape of the config at a glance.
fn summary(config: &Config) -> serde_json::Value {
    let static_claims = config.sam.leaf.as_ref().map_or(0, |l| l.claim.owned.len());
    json!({
        "static_peers": config.bgp.peers.len(),
        "dynamic_ranges": config.bgp.dynamic.len(),
        "static_claims": static_claims,
        "has_leaf_claim": config.sam.leaf.is_some(),
        "interfaces": config.interfaces.len(),
        "transport": match config.transport.mode {
            config::TransportMode::Ipip => "ipip",
            config::TransportMode::IpipWireguard => "ipip+wireguard",
        },
    })
}

fn print_verified(args: &Args, verified: &Verified<Config>) {
    let table = if args.show_secrets {
        verified.to_table()
    } else {
        verified.redacted()
    };
    let key_id = verified.key_id().map(|k| k.to_string()).unwrap_or_default();
    if args.json {
        let out = json!({
            "verified": true,
            "mode": verified.mode().to_string(),
            "serial": verified.serial(),
            "key_id": key_id,
            "board": verified.board(),
            "secrets": if args.show_secrets { "shown" } else { "redacted" },
            "summary": summary(verified),
            "config": table,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    let s = summary(verified);
    println!("verified: yes");
    println!("mode:     {}", verified.mode());
    println!("serial:   {}", verified.serial());
    println!("key id:   {key_id}");
    println!("board:    {}", verified.board());
    println!(
        "node:     {} (router id {}, AS {})",
        verified.node.name, verified.node.router_id, verified.node.asn
    );
    match verified.mode() {
        Mode::Rr => println!(
            "shape:    {} static peers, {} dynamic ranges, no static claims: {}",
            s["static_peers"],
            s["dynamic_ranges"],
            verified.sam.leaf.is_none()
        ),
        Mode::Leaf => println!(
            "shape:    {} owned /32s, {} RR endpoints, transport {}",
            s["static_claims"],
            verified.sam.leaf.as_ref().map_or(0, |l| l.rr.len()),
            s["transport"].as_str().unwrap_or_default()
        ),
    }
    let secrets = if args.show_secrets {
        "secrets shown"
    } else {
        "secrets redacted"
    };
    println!("--- config ({secrets}) ---");
    print!("{}", toml::to_string(&table).unwrap_or_default());
}
