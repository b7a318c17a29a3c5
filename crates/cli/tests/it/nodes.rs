//! Several `agora serve` nodes over one PostgreSQL database (`--database-url`), as behind a
//! load balancer: what one node is told, every node answers at once, and racing writes through
//! different nodes give exact results. Each test has a schema of its own in the database
//! `AGORA_TEST_DATABASE_URL` names (default: the local server's `test` database).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agora_protocol::author::Author;
use agora_protocol::content::opinion;
use agora_protocol::{Process, SecretKey, VerifiedEvent, wire};
use prost::Message as _;
use reqwest::StatusCode;

use crate::admin::{author, publish, served_count, stats, system_link};
use crate::support::{Served, start_serving, terminate};

/// A schema of its own in the test database, dropped when the test ends.
pub struct Database {
    base: String,
    schema: String,
}

impl Database {
    pub fn create() -> Self {
        let base = std::env::var("AGORA_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("agora_nodes_{:016x}", rand_u64());
        psql(&base, &format!("CREATE SCHEMA {schema}"));
        Self { base, schema }
    }

    /// The URL every node is given: the database, with this schema as its search path.
    pub fn url(&self) -> String {
        let joiner = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{joiner}options=-c%20search_path%3D{}",
            self.base, self.schema
        )
    }

    /// `agora serve --database-url` on a free port, rate limits off (tests send much from one
    /// address), with `extra` arguments.
    pub fn node(&self, extra: &[&str]) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
        command
            .arg("serve")
            .args(extra)
            .env("AGORA_LISTEN", "127.0.0.1:0")
            .env("AGORA_DATABASE_URL", self.url())
            .env_remove("AGORA_DATA_DIR")
            .env("AGORA_RATE_LIMITS", "off")
            .env("RUST_LOG", "error");
        start_serving(&mut command)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .status()
        .expect("psql runs (is the PostgreSQL client installed?)");
    assert!(status.success(), "psql {sql}");
}

/// The one value `sql` selects, as psql prints it unaligned.
fn psql_value(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql runs (is the PostgreSQL client installed?)");
    assert!(output.status.success(), "psql {sql}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.finish()
}

/// An event written through one node is read at once through the others; nodes started
/// together over a new database agree on one schema.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_written_through_one_node_is_read_at_once_through_another() {
    let database = Database::create();
    let nodes: Vec<Served> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3).map(|_| scope.spawn(|| database.node(&[]))).collect();
        starting
            .into_iter()
            .map(|node| node.join().expect("node starts"))
            .collect()
    });
    let mut alice = author(1);
    for round in 0..3_u64 {
        let post = alice
            .post(&format!("post {round}"), 1_000 + round)
            .expect("post");
        let (status, body) = publish(&nodes[round as usize % 3].url, &[&post]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for node in &nodes {
            assert_eq!(served_count(&node.url, &alice).await, round as usize + 1);
        }
    }
    for node in nodes {
        assert!(terminate(node), "a clean stop");
    }
}

/// The same events and conflicting opinions sent through three nodes at once: every event is
/// stored once and the counts are exact, read through any node.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_events_and_racing_opinions_through_several_nodes_count_exactly() {
    let database = Database::create();
    let nodes: Vec<Served> = (0..3).map(|_| database.node(&[])).collect();
    let mut alice = author(1);
    let post = alice.post("a post everyone rates", 1_000).expect("post");
    let (status, body) = publish(&nodes[0].url, &[&post]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Thirty voters, each a like then (later) a dislike or a like again, every opinion sent
    // through every node at once.
    let mut opinions: Vec<VerifiedEvent> = Vec::new();
    let mut likes = 0;
    for seed in 10..40_u8 {
        let mut voter = author(seed);
        opinions.push(
            voter
                .opinion(&post.pointer(), opinion::LIKE, 2_000)
                .expect("like"),
        );
        let last = if seed % 4 == 0 {
            opinion::DISLIKE
        } else {
            likes += 1;
            opinion::LIKE
        };
        opinions.push(voter.opinion(&post.pointer(), last, 3_000).expect("vote"));
    }
    let sends: Vec<_> = nodes
        .iter()
        .flat_map(|node| {
            opinions.iter().rev().map(|opinion| {
                let url = node.url.clone();
                let opinion = opinion.clone();
                tokio::spawn(async move { publish(&url, &[&opinion]).await })
            })
        })
        .collect();
    for send in sends {
        let (status, body) = send.await.expect("send");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for node in &nodes {
        assert_eq!(stats(&node.url, &post).await, [likes, 30 - likes, 0]);
    }
}

/// A handle claimed through two nodes at the same moment, by eight identities: one holds it,
/// and every node resolves it to that one.
#[tokio::test(flavor = "multi_thread")]
async fn a_handle_raced_on_two_nodes_has_one_holder() {
    let database = Database::create();
    let nodes: Vec<Served> = (0..2).map(|_| database.node(&[])).collect();
    let claims: Vec<_> = (1..=8_u8)
        .map(|seed| {
            let url = nodes[usize::from(seed) % 2].url.clone();
            let system = author(seed).system();
            tokio::spawn(async move {
                let request = wire::ClaimHandleRequest {
                    system: Some(system.to_wire()),
                    handle: "contested".into(),
                    challenge: None,
                    signature: Default::default(),
                };
                let response = reqwest::Client::new()
                    .post(format!("{url}/claim_handle"))
                    .body(request.encode_to_vec())
                    .send()
                    .await
                    .expect("POST /claim_handle");
                (system, response.status())
            })
        })
        .collect();
    let mut holders = Vec::new();
    for claim in claims {
        let (system, status) = claim.await.expect("claim");
        if status == StatusCode::OK {
            holders.push(system);
        } else {
            assert_eq!(status, StatusCode::CONFLICT);
        }
    }
    assert_eq!(holders.len(), 1, "exactly one claim won");
    for node in &nodes {
        let response = reqwest::get(format!("{}/resolve_handle?handle=contested", node.url))
            .await
            .expect("resolve");
        assert_eq!(response.status(), StatusCode::OK);
        let key = wire::PublicKey::decode(response.bytes().await.expect("body")).expect("key");
        assert_eq!(key, holders[0].to_wire());
    }
}

/// A node killed with SIGKILL while writers send batches through it and through another node:
/// every batch either node acknowledged is served by the node still running, byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_during_ingest_loses_no_acknowledged_event() {
    let database = Database::create();
    let mut doomed = database.node(&[]);
    let survivor = database.node(&[]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client");
    let batches = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4_u8)
        .map(|writer| {
            let seed = 60 + writer;
            let author = Author::new(
                SecretKey::from_seed(&[seed; 32]),
                Process::from_bytes(&[seed; 16]).expect("16"),
            );
            let url = if writer % 2 == 0 {
                doomed.url.clone()
            } else {
                survivor.url.clone()
            };
            tokio::spawn(crate::crash::write(
                http.clone(),
                url,
                author,
                Arc::clone(&batches),
            ))
        })
        .collect();
    let acknowledging = async {
        while batches.load(Ordering::SeqCst) < 12 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), acknowledging)
        .await
        .expect("the nodes acknowledge batches");
    doomed.child.kill().expect("SIGKILL");
    doomed.child.wait().expect("killed");
    // The survivor's writers go on until it is stopped below; the doomed node's have stopped.
    let mut acknowledged = Vec::new();
    let mut survivors_writers = Vec::new();
    for (index, writer) in writers.into_iter().enumerate() {
        if index % 2 == 0 {
            acknowledged.extend(writer.await.expect("writer").1);
        } else {
            survivors_writers.push(writer);
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "the killed node acknowledged batches"
    );
    crate::crash::assert_served(&http, &survivor.url, &acknowledged).await;
    assert!(terminate(survivor), "a clean stop");
    for writer in survivors_writers {
        acknowledged.extend(writer.await.expect("writer").1);
    }
    let restarted = database.node(&[]);
    crate::crash::assert_served(&http, &restarted.url, &acknowledged).await;
}

/// Curation applied through one node (POST /censor) is in force on every node at once: the
/// identity's posts are gone everywhere, and no node takes them back.
#[tokio::test(flavor = "multi_thread")]
async fn curation_through_one_node_is_in_force_on_all() {
    let database = Database::create();
    let nodes: Vec<Served> = (0..2)
        .map(|_| database.node(&["--admin-token", "nodes-token"]))
        .collect();
    let mut alice = author(1);
    let post = alice.post("soon refused", 1_000).expect("post");
    let (status, body) = publish(&nodes[0].url, &[&post]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(served_count(&nodes[1].url, &alice).await, 1);

    let censored = reqwest::Client::new()
        .post(format!(
            "{}/censor?censorship_type=refuse_storage",
            nodes[0].url
        ))
        .header("authorization", "nodes-token")
        .body(system_link(&alice))
        .send()
        .await
        .expect("POST /censor");
    assert_eq!(censored.status(), StatusCode::OK);
    for node in &nodes {
        assert_eq!(served_count(&node.url, &alice).await, 0);
    }
    let again = alice.post("published again", 2_000).expect("post");
    let (status, body) = publish(&nodes[1].url, &[&again]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "refused on the other node");
    assert!(body.contains("refuses"), "{body}");
}

/// `agora admin migrate`: a SQLite server's store, loaded by the load generator, copied into
/// PostgreSQL, gives a node over it the same answers the load generator's check demands (every
/// live post found by its word and its typo, no deleted one, counts and feeds as planned).
#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_store_passes_the_load_generators_check_on_postgres() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let loadgen = |url: &str, phase: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
        command
            .args(["loadgen", "--server", url, "--phase", phase])
            .args(["--events", "3000", "--identities", "30", "--json"])
            .args(["--duration-secs", "1"])
            .env("RUST_LOG", "off");
        crate::support::run(command)
    };
    let sqlite = crate::support::serve_unlimited(data_dir.path(), &[]);
    loadgen(&sqlite.url, "ingest").await.ok();
    let before = loadgen(&sqlite.url, "read").await.json();
    assert_eq!(before["checks"]["failed"], 0, "{}", before["checks"]);
    assert!(terminate(sqlite), "a clean stop");

    let database = Database::create();
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(["admin", "migrate", "--json", "--to", &database.url()])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env_remove("AGORA_DATABASE_URL")
        .env("RUST_LOG", "off");
    let copied = crate::support::run(command).await.json();
    assert!(copied["events"].as_u64() > Some(2_000), "{copied}");
    assert_eq!(copied["identities"], 30, "{copied}");

    // The bulk load was vacuumed and analyzed: the planner knows the size of events, and its
    // pages are all-visible, so reads of the copy are index-only scans.
    let events = format!("{}.events", database.schema);
    let stats = psql_value(
        &database.base,
        &format!(
            "SELECT reltuples > 0 AND relallvisible > 0 FROM pg_class WHERE oid = '{events}'::regclass"
        ),
    );
    assert_eq!(stats, "t", "events after the copy: analyzed and vacuumed");

    let node = database.node(&[]);
    let after = loadgen(&node.url, "read").await.json();
    assert!(after["checks"]["checked"].as_u64() > Some(0), "{after}");
    assert_eq!(after["checks"]["failed"], 0, "{}", after["checks"]);

    // A second copy into the same database is refused: it holds events now.
    let mut again = Command::new(env!("CARGO_BIN_EXE_agora"));
    again
        .args(["admin", "migrate", "--to", &database.url()])
        .arg("--data-dir")
        .arg(data_dir.path())
        .env("RUST_LOG", "off");
    let refused = crate::support::run(again).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("empty"), "{}", refused.stderr);
}

/// Events from `/metrics`: the number of `POST /events` requests a node answered.
async fn events_posted_to(url: &str) -> u64 {
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics");
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("agora_http_requests_total")
                && line.contains("method=\"POST\"")
                && line.contains("route=\"/events\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// nginx, as docs/deploy.md configures it (without TLS), in front of `upstreams`, listening on
/// a free loopback port; stopped when dropped.
struct Nginx {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let servers: String = upstreams
            .iter()
            .map(|url| format!("        server {};\n", url.trim_start_matches("http://")))
            .collect();
        let temp = dir.path().display();
        let config = format!(
            "daemon off;
pid {temp}/nginx.pid;
error_log {temp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream agora {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 32m;
        location / {{
            proxy_pass http://agora;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_read_timeout 1h;
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"
        );
        // nginx's workers run as another user and write large request bodies to its temp paths.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let program = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(program)
            .arg("-c")
            .arg(&file)
            .arg("-p")
            .arg(dir.path())
            .spawn()
            .expect("nginx starts (apt-get install nginx; .ci/run does it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Two nodes behind nginx as docs/deploy.md sets it up: writes through the proxy reach both
/// nodes and read back through it; with one node killed, the proxy goes on through the other
/// and nothing acknowledged is missing.
#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_behind_nginx_serve_as_one_and_outlive_a_node() {
    let database = Database::create();
    let mut first = database.node(&["--trusted-proxy", "127.0.0.1"]);
    let second = database.node(&["--trusted-proxy", "127.0.0.1"]);
    let nginx = Nginx::start(&[&first.url, &second.url]);
    let mut alice = author(1);
    let mut posts = Vec::new();
    for n in 0..20_u64 {
        let post = alice.post(&format!("post {n}"), 1_000 + n).expect("post");
        let (status, body) = publish(&nginx.url, &[&post]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        posts.push(post);
    }
    assert_eq!(served_count(&nginx.url, &alice).await, 20);
    // A batch too large for nginx to hold in memory goes through its temp files.
    let mut bob = author(2);
    let batch: Vec<VerifiedEvent> = (0..80_u64)
        .map(|n| {
            bob.post(&"a long post ".repeat(40), 1_000 + n)
                .expect("post")
        })
        .collect();
    let (status, body) = publish(&nginx.url, &batch.iter().collect::<Vec<_>>()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(served_count(&nginx.url, &bob).await, 80);
    let (through_first, through_second) = (
        events_posted_to(&first.url).await,
        events_posted_to(&second.url).await,
    );
    assert_eq!(through_first + through_second, 21);
    assert!(
        through_first > 0 && through_second > 0,
        "both nodes took writes: {through_first} and {through_second}"
    );

    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("killed");
    for n in 20..30_u64 {
        let post = alice.post(&format!("post {n}"), 1_000 + n).expect("post");
        let (status, body) = publish(&nginx.url, &[&post]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        posts.push(post);
    }
    assert_eq!(served_count(&nginx.url, &alice).await, 30);
    let http = reqwest::Client::new();
    crate::crash::assert_served(&http, &nginx.url, &posts).await;
    assert!(terminate(second), "a clean stop");
}
