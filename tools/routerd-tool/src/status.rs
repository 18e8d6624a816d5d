//! `routerd-tool status`: mode, uptime, Loc-RIB size and peer counts of a running router;
//! also the connection arguments every API command shares.
//!
//! Exit codes: 0 answered, 1 router unreachable or answered an error, 2 usage.

use api::client::{Client, ClientError};

/// Where the router's API is and how to authenticate.
#[derive(clap::Args)]
pub(crate) struct ApiArgs {
    /// The router's API base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:7179")]
    router: String,
    /// File holding the API bearer token (first line), when the router requires one.
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
}

/// Arguments.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    api: ApiArgs,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A client for `args`, or the exit code for a usage error (already reported).
pub(crate) fn connect(args: &ApiArgs) -> Result<Client, i32> {
    let token = match &args.token_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text.lines().next().unwrap_or_default().trim().to_string()),
            Err(e) => {
                eprintln!("error: cannot read token file {}: {e}", path.display());
                return Err(2);
            }
        },
        None => None,
    };
    Client::new(&args.router, token).map_err(|e| {
        eprintln!("error: {e}");
        2
    })
}

/// Reports a failed request and maps it to the exit code.
pub(crate) fn exit_code(error: &ClientError) -> i32 {
    eprintln!("error: {error}");
    match error {
        ClientError::BadUrl(_) => 2,
        ClientError::Unreachable { .. }
        | ClientError::Status { .. }
        | ClientError::Malformed(_) => 1,
    }
}

/// Fetches one document with `fetch` and prints it: the API's JSON with `json`, else
/// `render(&document)`. Returns the exit code (0 printed, 1 or 2 as [`exit_code`]).
pub(crate) fn show<T: serde::Serialize>(
    api: &ApiArgs,
    json: bool,
    fetch: impl FnOnce(&Client) -> Result<T, ClientError>,
    render: impl FnOnce(&T) -> String,
) -> i32 {
    let client = match connect(api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match fetch(&client) {
        Ok(doc) if json => {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            0
        }
        Ok(doc) => {
            print!("{}", render(&doc));
            0
        }
        Err(e) => exit_code(&e),
    }
}

/// Runs the command; returns the exit code.
pub(crate) fn run(args: Args) -> i32 {
    let client = match connect(&args.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.status() {
        Ok(s) if args.json => {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            0
        }
        Ok(s) => {
            println!("version     {}", s.version);
            println!("mode        {}", s.mode);
            println!("router id   {} (AS {})", s.router_id, s.local_as);
            println!("config      {}", s.config);
            println!("uptime      {}s", s.uptime_secs);
            println!("routes      {}", s.loc_rib_routes);
            println!(
                "peers       {} established of {}",
                s.peers_established, s.peers_total
            );
            if let Some(t) = &s.config_trial {
                println!(
                    "trying      serial {} (reverts to {} in {}s unless confirmed)",
                    t.serial, t.previous_serial, t.reverts_in_secs
                );
            }
            for r in &s.refused_connections {
                println!("refused     {} ({})", r.count, r.reason);
            }
            0
        }
        Err(e) => exit_code(&e),
    }
}
