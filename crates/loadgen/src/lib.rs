//! `agora loadgen`: a load generator and benchmark for any Polycentric-protocol server.
//!
//! A run is deterministic from `--seed`: the same seed and sizes give the same identities, the
//! same events and the same read requests, so a `read` run can measure a server loaded earlier
//! by an `ingest` run without signing anything. Signing happens before the clock starts, so the
//! measured rates are the server's. Every loop is bounded by a count and by time.

mod check;
mod flood;
mod http;
mod ingest;
mod plan;
mod read;
mod report;
mod sign;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::plan::{Plan, PlanConfig};
use crate::report::{MixEntry, Report, SignReport};

/// Options of `agora loadgen`.
#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Base URL of the server to drive (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub server: String,
    /// Which phases to run: `ingest` loads the server, `read` measures the read routes against
    /// data an earlier `ingest` with the same --seed, --identities and --events stored.
    #[arg(long, value_enum, default_value_t = Phase::All)]
    pub phase: Phase,
    /// Identities (systems) to simulate, each with one process.
    #[arg(long, default_value_t = 1_000, value_parser = at_least_one)]
    pub identities: usize,
    /// Events to sign and send in total, spread evenly over the identities.
    #[arg(long, default_value_t = 200_000, value_parser = at_least_one)]
    pub events: usize,
    /// Events per `POST /events`.
    #[arg(long, default_value_t = 100, value_parser = at_least_one)]
    pub batch: usize,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Seconds each read route is measured.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Seed of the identities, events and read requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Per-request timeout, in seconds (a timed-out request counts as an error).
    #[arg(long, default_value_t = 30, value_parser = at_least_one)]
    pub timeout_secs: usize,
    /// The ingest phase stops sending new batches after this many seconds.
    #[arg(long, default_value_t = 600, value_parser = at_least_one)]
    pub ingest_max_secs: usize,
    /// Read routes to measure, comma-separated (for example `search,explore`); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub routes: Vec<read::Route>,
    /// Most requests per read route, whatever --duration-secs allows.
    #[arg(long, default_value_t = 1_000_000, value_parser = at_least_one)]
    pub requests_max: usize,
    /// `--phase stream`: live subscribers to open (the server's per-address cap must allow
    /// them: `agora serve --stream-subscriptions-per-address-max`).
    #[arg(long, default_value_t = 1_000, value_parser = at_least_one)]
    pub subscribers: usize,
    /// `--phase stream`: posts to publish, one per request, and how many per second.
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    pub stream_posts: usize,
    #[arg(long, default_value_t = 20.0)]
    pub stream_posts_per_second: f64,
    /// `--phase flood`: the normal client's requests per second.
    #[arg(long, default_value_t = 20.0, value_parser = positive)]
    pub normal_per_second: f64,
    /// `--phase flood`: the address the normal client's connections leave from.
    #[arg(long, default_value = "127.0.0.1")]
    pub normal_address: std::net::IpAddr,
    /// `--phase flood`: the address the flood's connections leave from (any 127.x.y.z works on
    /// Linux loopback).
    #[arg(long, default_value = "127.0.0.2")]
    pub flood_address: std::net::IpAddr,
}

/// The phases of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    All,
    Ingest,
    Read,
    /// Live-stream latency with many subscribers (nothing else runs).
    Stream,
    /// A normal client's latency alone and during floods from another address, against a
    /// server loaded by an earlier `ingest` with the same --seed, --identities and --events
    /// and running with its rate limits on.
    Flood,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Stream => "stream",
            Self::Flood => "flood",
        }
    }

    fn ingests(self) -> bool {
        matches!(self, Self::All | Self::Ingest)
    }

    fn reads(self) -> bool {
        matches!(self, Self::All | Self::Read)
    }
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        Ok(_) => Err("must be a positive number".into()),
        Err(error) => Err(error.to_string()),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}

pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let server = server_base(&args.server)?;
    if args.phase == Phase::Stream {
        let report = stream::run(
            &server,
            args.subscribers,
            args.stream_posts,
            args.stream_posts_per_second,
        )
        .await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let config = PlanConfig {
        seed: args.seed,
        identities: args.identities,
        events: args.events,
    };
    let started = Instant::now();
    let plan = Arc::new(tokio::task::spawn_blocking(move || Plan::new(config)).await?);
    if args.phase == Phase::Flood {
        let settings = flood::FloodSettings {
            duration: Duration::from_secs(args.duration_secs),
            normal_per_second: args.normal_per_second,
            normal_address: args.normal_address,
            flood_address: args.flood_address,
            flood_connections: args.concurrency,
            timeout: Duration::from_secs(args.timeout_secs as u64),
        };
        let report = flood::run(&server, &plan, settings).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    anyhow::ensure!(
        !args.phase.reads() || !plan.live_posts.is_empty(),
        "the plan has no posts for the read routes: give at least 3 --events per identity"
    );
    let mut report = Report {
        server: server.clone(),
        phase: args.phase.name(),
        seed: args.seed,
        identities: args.identities,
        events: args.events,
        batch: args.batch,
        concurrency: args.concurrency,
        mix: plan
            .mix()
            .into_iter()
            .map(|(kind, events)| MixEntry { kind, events })
            .collect(),
        plan_seconds: started.elapsed().as_secs_f64(),
        sign: None,
        ingest: None,
        checks: None,
        read: None,
    };
    let timeout = Duration::from_secs(args.timeout_secs as u64);
    let clients = (0..args.concurrency)
        .map(|_| http::client(timeout))
        .collect::<Result<Vec<_>, _>>()
        .context("building the HTTP clients")?;
    preflight(&clients[0], &server, &plan).await?;
    if args.phase.ingests() {
        let (sign, workers) = prepare_ingest(Arc::clone(&plan), &args).await?;
        report.sign = Some(sign);
        eprintln!("ingest: sending to {server}/events");
        let max_duration = Duration::from_secs(args.ingest_max_secs as u64);
        report.ingest = Some(ingest::run(&clients, &server, workers, max_duration).await?);
    }
    if args.phase.reads() {
        let settings = read::ReadSettings {
            duration: Duration::from_secs(args.duration_secs),
            requests_max: args.requests_max,
            routes: &args.routes,
        };
        eprintln!("check: sampling answers against the plan");
        report.checks = Some(check::run(&clients[0], &server, &plan).await);
        report.read = Some(read::run(&clients, &server, &plan, settings).await?);
    }
    print(&report, args.json)
}

/// The URL without its trailing slash, after checking it is an HTTP URL.
fn server_base(text: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(text).with_context(|| format!("--server {text:?}"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--server must be an http:// URL, got {text:?}"
    );
    Ok(text.trim_end_matches('/').to_owned())
}

/// Fails fast, before any signing, when nothing listens at the server URL.
async fn preflight(client: &reqwest::Client, server: &str, plan: &Plan) -> anyhow::Result<()> {
    let Some(identity) = plan.identities.first() else {
        return Ok(());
    };
    let url = format!(
        "{server}/ranges?system={}",
        identity.system.to_query_param()
    );
    match http::exchange(client.get(url)).await.0 {
        http::Outcome::Transport(error) => anyhow::bail!("cannot reach {server}: {error}"),
        http::Outcome::Status { .. } => Ok(()),
    }
}

/// Signs every event on all cores and encodes the batches: all before the clock starts.
async fn prepare_ingest(
    plan: Arc<Plan>,
    args: &LoadgenArgs,
) -> anyhow::Result<(SignReport, Vec<Vec<ingest::Batch>>)> {
    eprintln!(
        "sign: {} events of {} identities on {} threads",
        args.events,
        args.identities,
        rayon::current_num_threads()
    );
    let (workers, batch) = (args.concurrency, args.batch);
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let signed = sign::sign_plan(&plan).context("signing the plan")?;
        let seconds = started.elapsed().as_secs_f64();
        let events = signed.iter().map(Vec::len).sum();
        let sign = SignReport {
            events,
            seconds,
            events_per_second: events as f64 / seconds.max(1e-9),
            threads: rayon::current_num_threads(),
        };
        Ok((sign, ingest::batches(signed, workers, batch)))
    })
    .await?
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
