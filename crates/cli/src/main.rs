//! The `agora` binary. Kept tiny: parse the command line, then hand over to a library.

mod admin;
mod device_cmd;
mod discover_cmds;
mod export_cmd;
mod handle_cmd;
mod input;
mod names;
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
    about = "A server and client for the Polycentric social network",
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    /// Print results as one JSON object, for scripts (errors too).
    #[arg(long, global = true)]
    json: bool,
    /// Print full `polycentric://` links instead of short forms in text output.
    #[arg(long, global = true)]
    long: bool,
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS_HELP: &str =
    "Exit status: 0 done; 1 error; 2 bad input (command line, link, key, \
handle or file); 3 no server answered; 4 some servers failed (the others did the work).

Examples:
  agora init --name alice && agora server add https://my.server
  agora post \"hello\"
  agora follow @bob && agora feed";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a server on the embedded store (no configuration needed).
    #[command(
        after_help = "Examples:\n  agora serve\n  agora serve --listen 0.0.0.0:8081 --public-url https://my.server"
    )]
    Serve(Box<serve::ServeArgs>),
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
    #[command(
        after_help = "Example:\n  agora loadgen --server http://127.0.0.1:8081 --events 200000 --identities 1000"
    )]
    Loadgen(agora_loadgen::LoadgenArgs),
    /// Print a shell completion script: bash, zsh or fish.
    #[command(
        after_help = "Examples:\n  agora completions bash > ~/.local/share/bash-completion/completions/agora\n  \
                      agora completions zsh > ~/.zfunc/_agora\n  \
                      agora completions fish > ~/.config/fish/completions/agora.fish"
    )]
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    User(user::UserCommand),
}

fn main() -> std::process::ExitCode {
    let json = std::env::args().any(|arg| arg == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if json
                && !matches!(
                    error.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                )
            {
                let message = error.render().to_string();
                let object = serde_json::json!({
                    "error": message.trim().trim_start_matches("error: "),
                    "exit": output::exit::BAD_INPUT,
                });
                let _ = output::emit(&format!("{object}\n"));
                return output::exit::BAD_INPUT.into();
            }
            error.exit();
        }
    };
    output::set_long(cli.long);
    // User commands report server failures in their output, so their logs stay quiet.
    let default_filter = match cli.command {
        Command::User(_) | Command::Handle(_) | Command::Device(_) | Command::Recovery(_) => {
            "error"
        }
        Command::Admin(_) => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if matches!(&cli.command, Command::Serve(args) if args.log_format == serve::LogFormat::Json) {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let status = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => run(&runtime, cli.command, cli.json),
        Err(error) => Err(error.into()),
    };
    match status {
        Ok(status) => status.into(),
        Err(error) => report(&error, cli.json).into(),
    }
}

fn run(runtime: &tokio::runtime::Runtime, command: Command, json: bool) -> anyhow::Result<u8> {
    match command {
        Command::Serve(args) => runtime.block_on(serve::run(*args)).map(|()| 0),
        Command::Admin(args) => runtime.block_on(admin::run(args, json)).map(|()| 0),
        Command::Handle(args) => runtime.block_on(handle_cmd::run(args, json)),
        Command::Device(args) => runtime.block_on(device_cmd::run_device(args, json)),
        Command::Recovery(args) => runtime.block_on(device_cmd::run_recovery(args, json)),
        Command::Loadgen(args) => runtime.block_on(agora_loadgen::run(args)).map(|()| 0),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "agora", &mut script);
            let _ = output::emit(&String::from_utf8_lossy(&script));
            Ok(0)
        }
        Command::User(command) => runtime.block_on(user::run(command, json)),
    }
}

/// Prints a failed command's error (one JSON object with `--json`, else `error: …` with its
/// causes, none repeated) and returns the exit status its kind calls for.
fn report(error: &anyhow::Error, json: bool) -> u8 {
    let status = if error.downcast_ref::<output::BadInput>().is_some() {
        output::exit::BAD_INPUT
    } else if error.downcast_ref::<output::NoServerAnswered>().is_some() {
        output::exit::NO_SERVER_ANSWERED
    } else {
        output::exit::ERROR
    };
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    if json {
        let object = serde_json::json!({"error": message, "exit": status});
        let _ = output::emit(&format!("{object}\n"));
    } else {
        eprintln!("error: {message}");
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are base64url, so one in 64 begins with `-`: every argument that takes a key (a
    /// pairing code, a device, a person, a post's KEY/CLOCK) takes such a key as a value, and
    /// the flags around it still parse.
    #[test]
    fn a_key_that_begins_with_a_hyphen_is_a_value() {
        let key = "-Xq3abcdefghijklmnopqrstuvwxyz0123456789_-AB";
        let post = format!("{key}/5");
        let commands: [&[&str]; 12] = [
            &["device", "approve", key, "--yes"],
            &["device", "revoke", key],
            &["device", "rename", key, "phone"],
            &["follow", key],
            &["block", key, "--json"],
            &["followers", key],
            &["profile", key],
            &["show", &post, "--history"],
            &["image", &post, "--out", "x.png"],
            &["like", &post],
            &["delete", &post],
            &["edit", &post, "new text"],
        ];
        for args in commands {
            let line = std::iter::once("agora").chain(args.iter().copied());
            match Cli::try_parse_from(line) {
                Ok(parsed) => {
                    let debug = format!("{parsed:?}");
                    assert!(debug.contains(key), "agora {}: {debug}", args.join(" "));
                }
                Err(error) => panic!("agora {}: {error}", args.join(" ")),
            }
        }
        let flagged = Cli::try_parse_from(["agora", "block", key, "--json"]);
        assert!(
            flagged.is_ok_and(|cli| cli.json),
            "--json after a key is still the flag"
        );
    }

    /// Every command a person can run shows an example in its `--help`.
    #[test]
    fn every_command_has_an_example_in_its_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            let subcommands: Vec<&clap::Command> = command
                .get_subcommands()
                .filter(|sub| sub.get_name() != "help")
                .collect();
            if subcommands.is_empty() {
                let help = command
                    .get_after_help()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if !help.contains("Example") || !help.contains("agora ") {
                    missing.push(path.clone());
                }
            }
            for sub in subcommands {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&<Cli as clap::CommandFactory>::command(), "", &mut missing);
        assert!(missing.is_empty(), "no example in --help of: {missing:?}");
    }
}
