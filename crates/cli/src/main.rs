//! The `agora` binary. Kept tiny: parse the command line, then hand over to a library.

mod admin;
mod discover_cmds;
mod export_cmd;
mod handle_cmd;
mod output;
mod read_cmds;
mod serve;
mod user;

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
    /// Drive a running Polycentric-protocol server with signed events and measure it.
    Loadgen(agora_loadgen::LoadgenArgs),
    #[command(flatten)]
    User(user::UserCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // User commands report server failures in their output, so their logs stay quiet.
    let default_filter = match cli.command {
        Command::User(_) | Command::Handle(_) => "error",
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
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve::run(args)),
        Command::Admin(args) => runtime.block_on(admin::run(args, cli.json)),
        Command::Handle(args) => runtime.block_on(handle_cmd::run(args, cli.json)),
        Command::Loadgen(args) => runtime.block_on(agora_loadgen::run(args)),
        Command::User(command) => runtime.block_on(user::run(command, cli.json)),
    }
}
