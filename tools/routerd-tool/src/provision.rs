//! `routerd-tool provision`: validates a TOML config, signs it, and writes the blob to a
//! file or into the config partition of a disk image or block device.
//!
//! Writing into a target goes to the older of the partition's two slots
//! (`config::slots`), so a write cut short leaves the previous config in place. The
//! serial defaults to the current Unix time, and never below the target's serial + 1.
//!
//! Exit codes: 0 done (or valid with `--check`), 1 config invalid or refused (rollback),
//! 2 usage or I/O error.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use config::blob::{Blob, Header};
use config::{BoardName, Config, KeyId, TrustedKey, TrustedKeys, check_toml, slots};

use crate::keygen::read_signing_key;

/// GPT name of the config partition.
const CONFIG_PARTITION: &str = image_builder::layout::CONFIG_NAME;

/// Arguments of `routerd-tool provision`.
#[derive(clap::Args)]
#[command(
    about = "Validate, sign and write a router config",
    after_help = concat!(
        "Validate a TOML config, sign it with an owner key, and write the signed blob \
        to a file (--out) or into the `routerd-config` partition of a disk image or block \
        device (--target).\n\n\
        Every problem in the config is reported with file:line:column, the field path and a fix. \
        --check only validates. --diff shows what changes against what the target (or the \
        existing --out file) holds, with secrets hidden.",
        "\n\nExamples:\n  \
        routerd-tool provision --config leaf.toml --check\n  \
        routerd-tool provision --config leaf.toml --key keys/owner.key --out leaf.blob\n  \
        routerd-tool provision --config leaf.toml --key keys/owner.key --target disk.img --diff\n\n\
        Exit codes: 0 done, 1 config invalid or refused, 2 usage or I/O error."
    )
)]
pub(crate) struct Args {
    /// The TOML config to sign (see docs/config.md and examples/*.toml).
    #[arg(long, value_name = "FILE.toml")]
    config: PathBuf,
    /// Owner secret key (owner.key from `routerd-tool keygen`); not needed with --check.
    #[arg(long, value_name = "KEY", required_unless_present = "check")]
    key: Option<PathBuf>,
    /// Write the signed blob to this file.
    #[arg(long, value_name = "BLOB", conflicts_with = "target")]
    out: Option<PathBuf>,
    /// Write the signed blob into the config partition of this disk image or device.
    #[arg(long, value_name = "IMAGE_OR_DEVICE")]
    target: Option<PathBuf>,
    /// Anti-rollback serial [default: current Unix time, at least the target's + 1].
    #[arg(long, value_name = "N")]
    serial: Option<u64>,
    /// Board compatibility string, overriding `node.board` of the config.
    #[arg(long, value_name = "B")]
    board: Option<String>,
    /// Only validate (and check the key, if given); write nothing.
    #[arg(long)]
    check: bool,
    /// Show the changes against what the destination holds (secrets hidden).
    #[arg(long)]
    diff: bool,
}

/// A failed run: the message and the exit code.
struct Failure(i32, String);

fn usage(message: impl Into<String>) -> Failure {
    Failure(2, message.into())
}

fn refused(message: impl Into<String>) -> Failure {
    Failure(1, message.into())
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    match provision(&args) {
        Ok(()) => 0,
        Err(Failure(code, message)) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            code
        }
    }
}

fn provision(args: &Args) -> Result<(), Failure> {
    let config = load(args)?;
    let key = args
        .key
        .as_deref()
        .map(read_signing_key)
        .transpose()
        .map_err(usage)?;
    if let Some(key) = &key {
        let public = TrustedKey(key.verifying_key().to_bytes());
        if !config.trusted_keys.contains(&public) {
            eprintln!(
                "note: the signing key {} is not in this config's trusted_keys: the next config \
                 must be signed by one of the keys listed there",
                public.key_id()
            );
        }
    }
    if args.out.is_none() && args.target.is_none() && !args.check {
        return Err(usage(
            "say where the blob goes: --out BLOB or --target IMAGE_OR_DEVICE (or validate only with --check)",
        ));
    }
    let existing = existing(args)?;
    if args.diff {
        print_diff(existing.as_ref(), &config);
    }
    let serial = choose_serial(args, existing.as_ref())?;
    if args.check {
        println!(
            "ok: {} is a valid {} config for board {} (would be serial {serial})",
            args.config.display(),
            config.mode(),
            config.node.board
        );
        return Ok(());
    }
    let key = key.ok_or_else(|| usage("--key is required to sign"))?;
    let blob = config::sign(&config, &key, serial).map_err(|e| refused(e.to_string()))?;
    let trust = TrustedKeys::new(&[TrustedKey(key.verifying_key().to_bytes())])
        .map_err(|e| usage(e.to_string()))?;
    config::verify(&blob, &trust, &config.node.board, serial, false)
        .map_err(|e| Failure(2, format!("signed blob does not verify (a bug): {e}")))?;
    let key_id = KeyId::of(key.verifying_key().as_bytes());
    let place = match (&args.out, &args.target) {
        (Some(out), _) => {
            write_file(out, &blob)
                .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
            out.display().to_string()
        }
        (None, Some(target)) => write_target(target, &blob)?,
        (None, None) => return Err(usage("--out or --target is required")),
    };
    println!(
        "wrote {} config, serial {serial}, board {}, key id {key_id}, {} bytes to {place}",
        config.mode(),
        config.node.board,
        blob.len()
    );
    Ok(())
}

/// Reads, parses and validates the config, applying `--board`.
fn load(args: &Args) -> Result<Config, Failure> {
    let name = args.config.display().to_string();
    let text =
        fs::read_to_string(&args.config).map_err(|e| usage(format!("cannot read {name}: {e}")))?;
    let mut config = check_toml(&text, &name).map_err(report)?;
    if let Some(board) = &args.board {
        config.node.board = BoardName::try_from(board.as_str())
            .map_err(|_| usage(format!("--board `{board}` is longer than 32 bytes")))?;
        config::validate(&config).map_err(report)?;
    }
    Ok(config)
}

fn report(errors: Vec<config::ConfigError>) -> Failure {
    for e in &errors {
        eprintln!("error: {e}");
    }
    let n = errors.len();
    refused(format!(
        "{n} problem{} in the config; nothing was signed",
        if n == 1 { "" } else { "s" }
    ))
}

/// What the destination holds now, if anything: its header and (unverified) config.
struct Existing {
    header: Header,
    config: Option<Config>,
}

fn existing(args: &Args) -> Result<Option<Existing>, Failure> {
    let bytes = if let Some(target) = &args.target {
        let (_, region) = read_region(target)?;
        match slots::read(&region) {
            Ok(blob) => blob.to_vec(),
            Err(_) => return Ok(None),
        }
    } else if let Some(out) = args.out.as_ref().filter(|p| p.exists()) {
        fs::read(out).map_err(|e| usage(format!("cannot read {}: {e}", out.display())))?
    } else {
        return Ok(None);
    };
    Ok(Blob::parse(&bytes).ok().map(|blob| Existing {
        header: blob.header().clone(),
        config: blob.decode_unverified().ok(),
    }))
}

fn choose_serial(args: &Args, existing: Option<&Existing>) -> Result<u64, Failure> {
    let floor = existing.map_or(0, |e| e.header.serial.saturating_add(1));
    match args.serial {
        Some(serial)
            if args.target.is_some() && existing.is_some_and(|e| serial < e.header.serial) =>
        {
            Err(refused(format!(
                "serial {serial} is lower than the target's {}: the router would refuse it as a rollback; pass a higher --serial",
                floor - 1
            )))
        }
        Some(serial) => Ok(serial),
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Ok(now.max(floor))
        }
    }
}

fn print_diff(existing: Option<&Existing>, new: &Config) {
    let new_text = toml::to_string(&new.redacted()).unwrap_or_default();
    let Some(old) = existing else {
        println!("--- (no config at the destination)\n+++ new config (secrets hidden)");
        for line in new_text.lines() {
            println!("+{line}");
        }
        return;
    };
    let old_text = old
        .config
        .as_ref()
        .map(|c| toml::to_string(&c.redacted()).unwrap_or_default())
        .unwrap_or_else(|| "# (payload unreadable)\n".to_string());
    println!(
        "--- current: serial {}, board {} (secrets hidden)",
        old.header.serial, old.header.board
    );
    println!("+++ new config (secrets hidden)");
    let old_lines: Vec<&str> = old_text.lines().collect();
    let new_lines: Vec<&str> = new_text.lines().collect();
    let changes = line_diff(&old_lines, &new_lines);
    if changes.iter().all(|(tag, _)| *tag == ' ') {
        println!(" (no changes)");
    }
    for (tag, line) in changes {
        if tag != ' ' {
            println!("{tag}{line}");
        }
    }
}

/// A line diff by longest common subsequence: `(' ' | '-' | '+', line)`.
fn line_diff<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<(char, &'a str)> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(('+', new[j]));
            j += 1;
        } else {
            out.push(('-', old[i]));
            i += 1;
        }
    }
    out
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp-routerd");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Offset of the config partition in `target` and its current contents.
fn read_region(target: &Path) -> Result<(u64, Vec<u8>), Failure> {
    let shown = target.display();
    let (offset, len) = image_builder::layout::find_partition(target, CONFIG_PARTITION)
        .map_err(|e| usage(format!("cannot read the partition table of {shown}: {e}")))?
        .ok_or_else(|| {
            usage(format!("{shown} has no `{CONFIG_PARTITION}` partition; build it with `routerd-tool image build`"))
        })?;
    let len = usize::try_from(len).map_err(|_| usage("config partition too large"))?;
    let mut file =
        fs::File::open(target).map_err(|e| usage(format!("cannot open {shown}: {e}")))?;
    let mut region = vec![0u8; len];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut region))
        .map_err(|e| usage(format!("cannot read the config partition of {shown}: {e}")))?;
    Ok((offset, region))
}

/// Writes `blob` into the older slot of the target's config partition.
fn write_target(target: &Path, blob: &[u8]) -> Result<String, Failure> {
    let shown = target.display();
    let (offset, region) = read_region(target)?;
    let (slot_offset, bytes) = slots::write(&region, blob).map_err(|e| refused(e.to_string()))?;
    let slot = if slot_offset == 0 { "A" } else { "B" };
    let mut file = OpenOptions::new()
        .write(true)
        .open(target)
        .map_err(|e| usage(format!("cannot open {shown} for writing: {e}")))?;
    file.seek(SeekFrom::Start(offset + slot_offset))
        .and_then(|_| file.write_all(&bytes))
        .and_then(|()| file.sync_all())
        .map_err(|e| usage(format!("cannot write the config partition of {shown}: {e}")))?;
    Ok(format!("slot {slot} of {shown}"))
}

/// Reads the newest stored blob of an image's config partition (for `inspect`).
pub(crate) fn stored_blob(target: &Path) -> Result<Vec<u8>, String> {
    let (_, region) = read_region(target).map_err(|Failure(_, m)| m)?;
    slots::read(&region)
        .map(<[u8]>::to_vec)
        .map_err(|e| format!("{}: {e}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    #[test]
    fn line_diff_marks_changed_lines_only() {
        let old = ["a", "b", "c"];
        let new = ["a", "x", "c", "d"];
        let changes: Vec<_> = line_diff(&old, &new)
            .into_iter()
            .filter(|(t, _)| *t != ' ')
            .collect();
        assert_eq!(changes, vec![('+', "x"), ('-', "b"), ('+', "d")]);
    }
}
