//! The figures of a run, as one JSON object or as a table for people.

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::CheckReport;
use crate::ingest::IngestReport;
use crate::plan::ActionKind;
use crate::read::RouteReport;

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub server: String,
    pub phase: &'static str,
    pub seed: u64,
    pub identities: usize,
    pub events: usize,
    pub batch: usize,
    pub concurrency: usize,
    /// Events of each kind in the plan.
    pub mix: Vec<MixEntry>,
    pub plan_seconds: f64,
    pub sign: Option<SignReport>,
    pub ingest: Option<IngestReport>,
    /// Answers compared with what the plan implies, before the read timings.
    pub checks: Option<CheckReport>,
    pub read: Option<Vec<RouteReport>>,
}

#[derive(Debug, Serialize)]
pub struct MixEntry {
    pub kind: ActionKind,
    pub events: usize,
}

/// The untimed preparation of the ingest phase.
#[derive(Debug, Serialize)]
pub struct SignReport {
    pub events: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub threads: usize,
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "agora loadgen: {} (phase {}, seed {}, {} identities, {} events, batch {}, concurrency {})",
            self.server,
            self.phase,
            self.seed,
            self.identities,
            self.events,
            self.batch,
            self.concurrency
        );
        let mix: Vec<String> = self
            .mix
            .iter()
            .map(|entry| format!("{} {}", entry.events, entry.kind.name()))
            .collect();
        let _ = writeln!(out, "plan ({:.2} s): {}", self.plan_seconds, mix.join(", "));
        if let Some(sign) = &self.sign {
            let _ = writeln!(
                out,
                "sign (untimed): {} events in {:.2} s, {:.0} events/s on {} threads",
                sign.events, sign.seconds, sign.events_per_second, sign.threads
            );
        }
        if let Some(ingest) = &self.ingest {
            ingest_table(&mut out, ingest);
        }
        if let Some(checks) = &self.checks {
            checks_table(&mut out, checks);
        }
        if let Some(routes) = &self.read {
            read_table(&mut out, routes);
        }
        out
    }
}

fn ingest_table(out: &mut String, ingest: &IngestReport) {
    let _ = writeln!(
        out,
        "\ningest: POST /events\n  events sent      {}\n  events accepted  {}\n  events rejected  {}\n  \
         batches          {} ({} non-2xx, {} transport errors, {} unsent)\n  seconds          {:.2}\n  \
         events/s         {:.0}\n  batch latency    p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ingest.events_sent,
        ingest.events_accepted,
        ingest.events_rejected,
        ingest.batches,
        ingest.non_2xx,
        ingest.transport_errors,
        ingest.batches_unsent,
        ingest.seconds,
        ingest.events_per_second,
        ingest.batch_latency.p50_ms,
        ingest.batch_latency.p99_ms,
        ingest.batch_latency.max_ms,
    );
    if let Some(error) = &ingest.first_error {
        let _ = writeln!(out, "  first error      {error}");
    }
    if let Some(rejection) = &ingest.first_rejection {
        let _ = writeln!(out, "  first rejection  {rejection}");
    }
}

fn checks_table(out: &mut String, checks: &CheckReport) {
    let _ = writeln!(
        out,
        "\nchecks: {} answers compared with the plan, {} wrong",
        checks.checked, checks.failed
    );
    for failure in &checks.failures {
        let _ = writeln!(out, "  {failure}");
    }
}

fn read_table(out: &mut String, routes: &[RouteReport]) {
    let _ = writeln!(
        out,
        "\nread: {:<22} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "route", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "empty"
    );
    for route in routes {
        let _ = writeln!(
            out,
            "      GET {:<18} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7}",
            route.route,
            route.requests,
            route.requests_per_second,
            route.latency.p50_ms,
            route.latency.p90_ms,
            route.latency.p99_ms,
            route.latency.max_ms,
            route.errors,
            route.empty
        );
    }
    for route in routes {
        if let Some(error) = &route.first_error {
            let _ = writeln!(out, "  first error of {}: {error}", route.route);
        }
    }
}
