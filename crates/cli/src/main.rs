//! The `agora` binary. Kept tiny: parse the command line, then hand over to a library.

mod admin;
mod device_cmd;
mod discover_cmds;
mod export_cmd;
mod handle_cmd;
mod output;
mod read_cmds;
mod serve;
mod sync_cmd;
mod user;
mod watch_cmd;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "agora",
    version,
    about = "A server and client for the Polycentric social network"
)]
struct Cli {
    /// Print results as JSON, for scripts (user commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a server on the embedded store (no configuration needed).
    Serve(serve::ServeArgs),
    /// Operator curation on a server's data directory (censor, uncensor, list).
    Admin(admin::AdminArgs),
    /// Claim a handle on your servers with proof, or see who holds one.
    Handle(handle_cmd::HandleArgs),
    /// One identity on several devices: pair, approve, list, revoke, rename.
    Device(device_cmd::DeviceArgs),
    /// The identity's recovery words: show them, restore from them, or take the root key off
    /// this home.
    Recovery(device_cmd::RecoveryArgs),
    /// Drive a running Polycentric-protocol server with signed events and measure it.
    Loadgen(agora_loadgen::LoadgenArgs),
    #[command(flatten)]
    User(user::UserCommand),
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    // User commands report server failures in their output, so their logs stay quiet.
    let default_filter = match cli.command {
        Command::User(_) | Command::Handle(_) | Command::Device(_) | Command::Recovery(_) => {
            "error"
        }
        Command::Admin(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let status = match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)).map(|()| 0),
        Command::Admin(args) => runtime.block_on(admin::run(args, cli.json)).map(|()| 0),
        Command::Handle(args) => runtime
            .block_on(handle_cmd::run(args, cli.json))
            .map(|()| 0),
        Command::Device(args) => runtime
            .block_on(device_cmd::run_device(args, cli.json))
            .map(|()| 0),
        Command::Recovery(args) => runtime
            .block_on(device_cmd::run_recovery(args, cli.json))
            .map(|()| 0),
        Command::Loadgen(args) => runtime.block_on(agora_loadgen::run(args)).map(|()| 0),
        Command::User(command) => runtime.block_on(user::run(command, cli.json)),
    }?;
    Ok(std::process::ExitCode::from(status))
}
