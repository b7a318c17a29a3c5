//! Interoperability, devices: an identity with a device and a revoked device, made with the
//! `agora` binary through the real pairing flow against a real `agora serve`, is fetched, verified
//! and read by `@polycentric/polycentric-core` (interop/read_devices.test.mjs): every event of
//! the root key and of both devices, the device statements (content types 1000–1002) included,
//! the posts each key signed, and the root's username.

use serde_json::{Value, json};

use crate::support::{
    agora, install_official_client, official_client_tests, pair, serve, system_of, terminate,
};

const NAME: &str = "Agora root ✓";
/// The devices' names, as the root approves them.
const PHONE: &str = "phone";
const TABLET: &str = "tablet";
const PHONE_NAME: &str = "Agora phone";
const ROOT_POST: &str = "a post the root key signed";
const PHONE_POST: &str = "a post the phone signed: ünïcödé";
const TABLET_POST: &str = "a post the tablet signed before it was revoked";

/// A post through `agora post TEXT --json`, checked to have reached `server` alone.
async fn post(home: &std::path::Path, text: &str, server: &str) {
    let posted = agora(home, &["post", text, "--json"]).await.json();
    assert_eq!(posted["sent"][0]["server"], server, "{posted}");
    assert_eq!(posted["failed"], json!([]), "{posted}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_verifies_and_reads_an_identity_with_devices() {
    install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());
    let url = served.url.clone();
    let dirs = tempfile::tempdir().expect("tempdir");
    let (root, phone, tablet) = (
        dirs.path().join("root"),
        dirs.path().join("phone"),
        dirs.path().join("tablet"),
    );

    agora(&root, &["init", "--name", NAME]).await.ok();
    agora(&root, &["server", "add", &url]).await.ok();
    post(&root, ROOT_POST, &url).await;
    let link = agora(&root, &["link"]).await.ok().trim().to_owned();

    // Two devices paired through the real flow; each posts; the tablet is then revoked.
    let phone_key = device_key(&pair(&root, &phone, &link, PHONE).await);
    let tablet_key = device_key(&pair(&root, &tablet, &link, TABLET).await);
    post(&phone, PHONE_POST, &url).await;
    // Written with the phone's key, so it is the phone's USERNAME event, not the root's.
    agora(&phone, &["profile", "--name", PHONE_NAME]).await.ok();
    post(&tablet, TABLET_POST, &url).await;
    let revoked = agora(&root, &["device", "revoke", TABLET, "--json"])
        .await
        .json();
    assert_eq!(revoked["revoked"], tablet_key.as_str(), "{revoked}");
    // The tablet signed its acceptance (clock 1) and one post (clock 2): both stay valid.
    assert_eq!(revoked["bounds"][0]["last_logical_clock"], 2, "{revoked}");
    assert_eq!(revoked["push"]["failed"], json!([]), "{revoked}");

    // The official client reads keys in its own form: base64 of the PublicKey protobuf.
    let root_system = official_key(&system_of(&link).to_string());
    let (phone_key, tablet_key) = (official_key(&phone_key), official_key(&tablet_key));
    let env = [
        ("AGORA_LINK", link.as_str()),
        ("AGORA_ROOT", root_system.as_str()),
        ("AGORA_NAME", NAME),
        ("AGORA_ROOT_POST", ROOT_POST),
        ("AGORA_DEVICE", phone_key.as_str()),
        ("AGORA_DEVICE_NAME", PHONE),
        ("AGORA_DEVICE_USERNAME", PHONE_NAME),
        ("AGORA_DEVICE_POST", PHONE_POST),
        ("AGORA_REVOKED", tablet_key.as_str()),
        ("AGORA_REVOKED_NAME", TABLET),
        ("AGORA_REVOKED_POST", TABLET_POST),
    ];
    // A blocking run, off the runtime's worker.
    let run =
        tokio::task::block_in_place(|| official_client_tests("read_devices.test.mjs", &url, &env));
    let report = format!("{}\n{}", run.stdout, run.stderr);
    let stopped_cleanly = terminate(served);

    assert!(run.success, "official client tests failed:\n{report}");
    assert!(
        report.contains("pass 8") && report.contains("skipped 0"),
        "all 8 official-client checks ran:\n{report}"
    );
    assert!(stopped_cleanly, "the server stopped cleanly");
}

/// The device key of a `device pair --json` answer, checked to be paired.
/// A key as `agora` prints it, in the form official clients print and parse.
fn official_key(printed: &str) -> String {
    let key = agora_protocol::PublicKey::parse_text(printed).expect("a key agora printed");
    agora_protocol::encoding::base64_standard_encode(&prost::Message::encode_to_vec(&key.to_wire()))
}

fn device_key(paired: &Value) -> String {
    assert_eq!(paired["paired"], true, "{paired}");
    paired["device"].as_str().expect("device").to_owned()
}
