//! `routerd-tool image build`: builds a bootable firmware image for a board.
//!
//! Thin wrapper over `image_builder::build`: resolves the board file, the cache directory
//! (`$XDG_CACHE_HOME/routerd` or `~/.cache/routerd`) and `SOURCE_DATE_EPOCH`, prints progress
//! lines on stderr and the manifest (human or `--json`) on stdout.

use std::path::PathBuf;

use image_builder::board::{self, Board};
use image_builder::build::{BuildRequest, DEFAULT_EPOCH, build};

/// Arguments of `routerd-tool image`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(clap::Subcommand)]
enum ImageCommand {
    /// Build the disk image, kernel, initramfs and manifest for a board.
    Build(BuildArgs),
    /// List the available boards.
    Boards {
        /// Directory with the board files.
        #[arg(long)]
        board_dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct BuildArgs {
    /// Board name (a file `board/NAME.toml`).
    #[arg(long)]
    board: String,
    /// Signed config blob to place in config slot A.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Trusted signing keys (`owner.pub`) routerd verifies the config against.
    #[arg(long, value_name = "OWNER.pub")]
    trust: Option<PathBuf>,
    /// Use this kernel package instead of downloading the board's one.
    #[arg(long)]
    kernel_deb: Option<PathBuf>,
    /// Use this static routerd binary instead of building it.
    #[arg(long)]
    routerd: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Directory with the board files (default: the checkout's `board/`).
    #[arg(long)]
    board_dir: Option<PathBuf>,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("routerd");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/routerd")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the subcommand; returns the process exit code.
pub(crate) fn run(args: Args) -> i32 {
    match args.command {
        ImageCommand::Boards { board_dir } => {
            let dir = board_dir.unwrap_or_else(board::default_dir);
            match board::list(&dir) {
                Ok(names) => {
                    for name in names {
                        match Board::by_name(&dir, &name) {
                            Ok(b) => println!("{name:20} {}", b.description),
                            Err(e) => println!("{name:20} INVALID: {e}"),
                        }
                    }
                    0
                }
                Err(e) => {
                    eprintln!("error: cannot list boards in {}: {e}", dir.display());
                    2
                }
            }
        }
        ImageCommand::Build(a) => run_build(a),
    }
}

fn run_build(a: BuildArgs) -> i32 {
    let dir = a.board_dir.unwrap_or_else(board::default_dir);
    let board = match Board::by_name(&dir, &a.board) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => match v.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("error: SOURCE_DATE_EPOCH={v:?} is not a number of seconds");
                return 2;
            }
        },
        Err(_) => DEFAULT_EPOCH,
    };
    let request = BuildRequest {
        board,
        out_dir: a.out,
        cache_dir: cache_dir(),
        kernel_deb: a.kernel_deb,
        routerd: a.routerd,
        config_blob: a.config,
        trusted_keys: a.trust,
        workspace: workspace_root(),
        source_date_epoch: epoch,
    };
    let started = std::time::Instant::now();
    let mut progress = |line: &str| {
        eprintln!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
    };
    match build(&request, &mut progress) {
        Ok(manifest) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&manifest).unwrap_or_default()
                );
            } else {
                println!(
                    "built {} (kernel {}, {} modules) in {}",
                    manifest.board,
                    manifest.kernel_release,
                    manifest.modules.len(),
                    request.out_dir.display()
                );
                for f in &manifest.files {
                    println!("  {:32} {:>12} bytes  sha256 {}", f.name, f.bytes, f.sha256);
                }
            }
            0
        }
        Err(e) => {
            eprintln!("error: image build failed: {e}");
            1
        }
    }
}
