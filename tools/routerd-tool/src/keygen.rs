//! `routerd-tool keygen`: creates an owner signing key pair, and the key file formats
//! every config command reads.
//!
//! Files (text, lowercase hexadecimal, one line):
//! - `owner.key`: the 32-byte ed25519 secret seed, 64 hex digits, mode 0600.
//! - `owner.pub`: the 32-byte ed25519 public key, 64 hex digits; paste it into a config's
//!   `trusted_keys` and pass it to `inspect --trust`.
//!
//! Exit codes: 0 written, 1 refused (files exist), 2 usage or I/O error.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use config::text::hex;
use config::{KeyId, SigningKey, TrustedKey, TrustedKeys};

/// Arguments of `routerd-tool keygen`.
#[derive(clap::Args)]
#[command(
    about = "Create an owner key pair for signing configs",
    after_help = concat!(
        "Writes DIR/owner.key (the ed25519 secret key, mode 0600) and DIR/owner.pub (the \
        public key). Both are one line of lowercase hexadecimal (64 digits). Keep owner.key \
        offline; put the contents of owner.pub into `trusted_keys` of every config and pass \
        the file to `routerd-tool inspect --trust`.",
        "\n\nExample:\n  routerd-tool keygen --out ./keys\n  \
        routerd-tool provision --config examples/leaf.toml --key ./keys/owner.key --out leaf.blob"
    )
)]
pub(crate) struct Args {
    /// Directory to write owner.key and owner.pub into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Overwrite an existing key pair (the old secret key is lost).
    #[arg(long)]
    force: bool,
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    let key_path = args.out.join("owner.key");
    let pub_path = args.out.join("owner.pub");
    if !args.force && (key_path.exists() || pub_path.exists()) {
        eprintln!(
            "error: {} already holds a key pair; keep it, or pass --force to replace it (the old secret key is lost)",
            args.out.display()
        );
        return 1;
    }
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        eprintln!("error: no randomness available for the key: {e}");
        return 2;
    }
    let key = SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let written = fs::create_dir_all(&args.out)
        .and_then(|()| write_secret(&key_path, &format!("{}\n", hex::encode(&seed))))
        .and_then(|()| fs::write(&pub_path, format!("{}\n", hex::encode(&public))));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the key pair into {}: {e}",
            args.out.display()
        );
        return 2;
    }
    println!(
        "secret key: {} (mode 0600, keep it offline)",
        key_path.display()
    );
    println!("public key: {}", pub_path.display());
    println!("key id:     {}", KeyId::of(&public));
    println!("trusted_keys = [\"{}\"]", hex::encode(&public));
    0
}

/// Writes `text` to a new file readable only by its owner.
fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    let _ = fs::remove_file(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Reads an owner.key file. Errors are complete messages for the operator.
pub(crate) fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let line = first_key_line(&text).ok_or_else(|| format!("{} holds no key", path.display()))?;
    let seed = hex::decode::<32>(line).map_err(|e| {
        format!(
            "{} is not an owner.key file ({e}); create one with `routerd-tool keygen`",
            path.display()
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads trusted public keys: `arg` is a file in owner.pub format (one hex key per
/// line) or, when no such file exists, the 64 hex digits themselves.
pub(crate) fn read_trust(arg: &str) -> Result<TrustedKeys, String> {
    let path = Path::new(arg);
    if path.exists() {
        let text = fs::read_to_string(path).map_err(|e| format!("cannot read {arg}: {e}"))?;
        return TrustedKeys::parse_text(&text).map_err(|e| format!("{arg}: {e}"));
    }
    let key: TrustedKey = arg.parse().map_err(|e| {
        format!("`{arg}` is neither a readable file nor a public key ({e}); pass owner.pub")
    })?;
    TrustedKeys::new(&[key]).map_err(|e| e.to_string())
}

fn first_key_line(text: &str) -> Option<&str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
}
