//! System test of the signed-config workflow, driving the built `routerd-tool` as an
//! operator would: keygen, provision --check, provision --out, inspect (text and JSON,
//! redacted and not), refusal of tampered, truncated, foreign-key and wrong-board blobs,
//! and provisioning into the config partition of a GPT disk image (A/B slots, --diff,
//! rollback refusal).
//!
//! Needs no root and no network: everything happens in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use system_tests::scratch::Scratch;
use system_tests::workspace_binary;

/// A fresh owner key pair from `routerd-tool keygen` in the scratch directory.
struct OwnerKeys {
    /// The public key as configs list it.
    public: String,
    /// The private key file.
    key: PathBuf,
    /// The public key file (`--trust`).
    trust: PathBuf,
}

fn owner_keys(dir: &Scratch) -> OwnerKeys {
    let keys = dir.path("keys");
    assert_eq!(tool(&[&"keygen", &"--out", &keys]).code, 0);
    let trust = keys.join("owner.pub");
    let public = std::fs::read_to_string(&trust).unwrap().trim().to_string();
    OwnerKeys {
        public,
        key: keys.join("owner.key"),
        trust,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tool(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let bin = workspace_binary("routerd-tool");
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(bin)
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("run routerd-tool");
    let run = Run {
        code: status.code().expect("routerd-tool exited by signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!(
        "$ routerd-tool ... -> {}\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run
}

const EXAMPLE_KEY: &str = "a44f7370a8216e2b623e3e165439f862b3b56985657ddc5bbeb4ee8fc3203b79";

/// Writes an example config that trusts `public`.
fn example(dir: &Scratch, name: &str, public: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("examples").join(name)).unwrap();
    assert!(text.contains(EXAMPLE_KEY));
    let path = dir.path(name);
    std::fs::write(&path, text.replace(EXAMPLE_KEY, public)).unwrap();
    path
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A sparse GPT disk image with the product's partition layout.
fn disk_image(path: &Path) {
    use image_builder::{gpt, layout};
    let disk_bytes = layout::MIN_DISK_BYTES;
    let mut file = std::fs::File::create(path).unwrap();
    file.set_len(disk_bytes).unwrap();
    let plan = layout::plan(disk_bytes).unwrap();
    let entries = layout::entries(&plan, [7; 16]);
    gpt::write(&mut file, disk_bytes, gpt::Guid::derived([9; 16]), &entries).unwrap();
}

#[test]
fn keygen_provision_inspect_and_refusals() {
    let dir = Scratch::new("rdcfg");
    let keys = dir.path("keys");

    let out = tool(&[&"keygen", &"--out", &keys]);
    assert_eq!(out.code, 0);
    let public = std::fs::read_to_string(keys.join("owner.pub"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(public.len(), 64);
    assert!(public.bytes().all(|b| b.is_ascii_hexdigit()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(keys.join("owner.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner.key must be private");
    let key_id = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .unwrap()
        .trim()
        .to_string();
    // A second keygen must not destroy the key.
    assert_eq!(tool(&[&"keygen", &"--out", &keys]).code, 1);

    let leaf = example(&dir, "leaf.toml", &public);
    let rr = example(&dir, "rr.toml", &public);
    let key = keys.join("owner.key");
    let trust = keys.join("owner.pub");

    // Validation only.
    let out = tool(&[&"provision", &"--config", &leaf, &"--check"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("valid leaf config"), "{}", out.stdout);

    // A broken config is reported with file:line:column, field path and a fix.
    let broken = dir.path("broken.toml");
    let text = std::fs::read_to_string(&leaf)
        .unwrap()
        .replace("name = \"wan0\"", "name = \"wan0-is-far-too-long\"");
    std::fs::write(&broken, &text).unwrap();
    let line = text[..text.find("wan0-is").unwrap()].matches('\n').count() + 1;
    let out = tool(&[
        &"provision",
        &"--config",
        &broken,
        &"--key",
        &key,
        &"--out",
        &dir.path("x.blob"),
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&format!("broken.toml:{line}:")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("interfaces[0].name"), "{}", out.stderr);
    assert!(out.stderr.contains("fix:"), "{}", out.stderr);
    assert!(
        !dir.path("x.blob").exists(),
        "nothing is written for an invalid config"
    );

    // Usage errors exit 2.
    assert_eq!(
        tool(&[&"provision", &"--config", &leaf, &"--key", &key]).code,
        2
    );
    assert_eq!(
        tool(&[
            &"provision",
            &"--config",
            &dir.path("missing.toml"),
            &"--check"
        ])
        .code,
        2
    );

    // Sign both examples.
    let leaf_blob = dir.path("leaf.blob");
    let rr_blob = dir.path("rr.blob");
    assert_eq!(
        tool(&[
            &"provision",
            &"--config",
            &leaf,
            &"--key",
            &key,
            &"--out",
            &leaf_blob,
            &"--serial",
            &"7"
        ])
        .code,
        0
    );
    assert_eq!(
        tool(&[
            &"provision",
            &"--config",
            &rr,
            &"--key",
            &key,
            &"--out",
            &rr_blob,
            &"--serial",
            &"9"
        ])
        .code,
        0
    );

    // Text inspection: mode, serial, key id, board, redacted config.
    let out = tool(&[&"inspect", &leaf_blob, &"--trust", &trust]);
    assert_eq!(out.code, 0);
    for needle in [
        "mode:     leaf",
        "serial:   7",
        &format!("key id:   {key_id}"),
        "board:    pve-x86_64",
        "<redacted>",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing `{needle}` in\n{}",
            out.stdout
        );
    }
    let token = "108fRssINKmRaNyNtEiDE2p4PJ9H+u9U";
    assert!(!out.stdout.contains(token), "join token leaked");

    // JSON inspection of the RR: no static claims, no per-leaf peers, secrets hidden.
    let out = tool(&[&"inspect", &rr_blob, &"--trust", &trust, &"--json"]);
    assert_eq!(out.code, 0);
    let v = json(&out.stdout);
    assert_eq!(v["verified"], true);
    assert_eq!(v["mode"], "rr");
    assert_eq!(v["serial"], 9);
    assert_eq!(v["key_id"], key_id.as_str());
    assert_eq!(v["summary"]["static_peers"], 0);
    assert_eq!(v["summary"]["static_claims"], 0);
    assert_eq!(v["summary"]["has_leaf_claim"], false);
    assert_eq!(
        v["config"]["sam"]["rr"]["policies"][0]["join_tokens"][0],
        "<redacted>"
    );
    assert_eq!(
        v["config"]["transport"]["wireguard"]["private_key"],
        "<redacted>"
    );
    let out = tool(&[
        &"inspect",
        &rr_blob,
        &"--trust",
        &trust,
        &"--json",
        &"--show-secrets",
    ]);
    assert_eq!(
        json(&out.stdout)["config"]["sam"]["rr"]["policies"][0]["join_tokens"][0],
        token
    );

    // Refusals: each with exit code 1 and its own reason.
    let bytes = std::fs::read(&leaf_blob).unwrap();
    let tampered = dir.path("tampered.blob");
    let mut bad = bytes.clone();
    bad[100] ^= 0x20;
    std::fs::write(&tampered, &bad).unwrap();
    let out = tool(&[&"inspect", &tampered, &"--trust", &trust]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("bad-signature"), "{}", out.stderr);
    let out = tool(&[&"inspect", &tampered, &"--trust", &trust, &"--json"]);
    assert_eq!(out.code, 1);
    assert_eq!(json(&out.stdout)["reason"], "bad-signature");

    let truncated = dir.path("truncated.blob");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let out = tool(&[&"inspect", &truncated, &"--trust", &trust]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("truncated"), "{}", out.stderr);

    let out = tool(&[&"inspect", &leaf_blob, &"--trust", &EXAMPLE_KEY]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown-key"), "{}", out.stderr);

    let out = tool(&[
        &"inspect", &leaf_blob, &"--trust", &trust, &"--board", &"rpi4",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("wrong-board"), "{}", out.stderr);

    let out = tool(&[
        &"inspect",
        &leaf_blob,
        &"--trust",
        &trust,
        &"--last-serial",
        &"8",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("rollback"), "{}", out.stderr);
}

#[test]
fn image_with_a_bare_blob_in_slot_a_inspects_and_takes_the_next_config_in_slot_b() {
    let dir = Scratch::new("rdcfg");
    let OwnerKeys { public, key, trust } = owner_keys(&dir);
    let rr = example(&dir, "rr.toml", &public);
    let blob = dir.path("rr.blob");
    let args: [&dyn AsRef<std::ffi::OsStr>; 9] = [
        &"provision",
        &"--config",
        &rr,
        &"--key",
        &key,
        &"--out",
        &blob,
        &"--serial",
        &"3",
    ];
    assert_eq!(tool(&args).code, 0);

    // What `routerd-tool image build --config` does: the bare blob at the start of slot A.
    let image = dir.path("disk.img");
    disk_image(&image);
    let (offset, _) = image_builder::layout::find_partition(&image, "routerd-config")
        .unwrap()
        .unwrap();
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&image)
        .unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&std::fs::read(&blob).unwrap()).unwrap();
    drop(file);

    let v = json(&tool(&[&"inspect", &image, &"--trust", &trust, &"--json"]).stdout);
    assert_eq!(v["verified"], true);
    assert_eq!(v["serial"], 3);
    let out = tool(&[
        &"provision",
        &"--config",
        &rr,
        &"--key",
        &key,
        &"--target",
        &image,
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("slot B"), "{}", out.stdout);
    let v = json(&tool(&[&"inspect", &image, &"--trust", &trust, &"--json"]).stdout);
    assert!(v["serial"].as_u64().unwrap() > 3);
}

#[test]
fn provision_into_a_disk_image_uses_ab_slots() {
    let dir = Scratch::new("rdcfg");
    let OwnerKeys { public, key, trust } = owner_keys(&dir);
    let leaf = example(&dir, "leaf.toml", &public);
    let image = dir.path("disk.img");
    disk_image(&image);

    // An empty partition: inspect says so (usage error, nothing to verify).
    assert_eq!(tool(&[&"inspect", &image, &"--trust", &trust]).code, 2);

    let out = tool(&[
        &"provision",
        &"--config",
        &leaf,
        &"--key",
        &key,
        &"--target",
        &image,
        &"--serial",
        &"100",
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("slot A"), "{}", out.stdout);
    let out = tool(&[&"inspect", &image, &"--trust", &trust, &"--json"]);
    assert_eq!(out.code, 0);
    assert_eq!(json(&out.stdout)["serial"], 100);

    // A changed config: --diff shows the change, the write goes to slot B and wins.
    let changed = dir.path("changed.toml");
    let text = std::fs::read_to_string(&leaf)
        .unwrap()
        .replace("hold_time = 30", "hold_time = 45");
    std::fs::write(&changed, text).unwrap();
    let out = tool(&[
        &"provision",
        &"--config",
        &changed,
        &"--key",
        &key,
        &"--target",
        &image,
        &"--diff",
    ]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("-hold_time = 30") && out.stdout.contains("+hold_time = 45"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("slot B"), "{}", out.stdout);
    let v = json(&tool(&[&"inspect", &image, &"--trust", &trust, &"--json"]).stdout);
    assert!(v["serial"].as_u64().unwrap() > 100);
    assert_eq!(v["config"]["bgp"]["hold_time"], 45);

    // A lower serial would be refused by the router: provision refuses it too.
    let out = tool(&[
        &"provision",
        &"--config",
        &leaf,
        &"--key",
        &key,
        &"--target",
        &image,
        &"--serial",
        &"50",
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("rollback"), "{}", out.stderr);
}
