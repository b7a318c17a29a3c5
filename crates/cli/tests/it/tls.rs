//! HTTPS servers: an untrusted certificate is refused and named, and `--ca-cert` makes a
//! self-signed server work end to end. The server is a real Agora server behind a loopback TLS
//! front that holds a certificate made for the test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agora_testnet::TestServer;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{agora, texts};

/// A TLS front for `backend` on a loopback port with a new self-signed certificate for
/// `localhost`: returns its `https://` URL and the certificate's PEM file in `dir`.
async fn tls_front(backend: SocketAddr, dir: &Path) -> (String, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let pem = dir.join("server-cert.pem");
    std::fs::write(&pem, certified.cert.pem()).expect("write pem");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the untrusting client) just ends this connection.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (format!("https://localhost:{port}"), pem)
}

fn backend_addr(server: &TestServer) -> SocketAddr {
    server
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("a socket address")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_self_signed_server_is_refused_by_name_until_its_certificate_is_trusted() {
    let backend = TestServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (https, pem) = tls_front(backend_addr(&backend), dir.path()).await;
    let pem = pem.to_str().expect("utf-8");

    let alice = tempfile::tempdir().expect("tempdir");
    agora(alice.path(), &["init"]).await.ok();
    // Not added: it does not answer as a server this client trusts, and the reason is named.
    let untrusted = agora(alice.path(), &["server", "add", &https]).await;
    assert_eq!(untrusted.code, Some(crate::support::EXIT_BAD_INPUT));
    assert!(
        untrusted.stderr.contains(&https) && untrusted.stderr.contains("invalid peer certificate"),
        "{}",
        untrusted.stderr
    );
    agora(alice.path(), &["server", "add", &https, "--ca-cert", pem])
        .await
        .ok();

    let posted = agora(
        alice.path(),
        &["post", "over tls", "--ca-cert", pem, "--json"],
    )
    .await
    .json();
    assert_eq!(posted["sent"][0]["server"], https.as_str(), "{posted}");
    assert_eq!(posted["failed"], json!([]), "{posted}");
    let alice_link = agora(alice.path(), &["link"]).await.ok().trim().to_owned();
    assert!(alice_link.starts_with("polycentric://"));

    let bob = tempfile::tempdir().expect("tempdir");
    agora(bob.path(), &["init"]).await.ok();
    let refused = agora(bob.path(), &["show", &alice_link, "--json"])
        .await
        .unanswered_json();
    assert_eq!(refused["answered"], json!([]), "{refused}");
    assert!(
        refused["failed"][0]["error"]
            .as_str()
            .is_some_and(|error| error.contains("invalid peer certificate")),
        "{refused}"
    );
    let shown = agora(
        bob.path(),
        &["show", &alice_link, "--ca-cert", pem, "--json"],
    )
    .await
    .json();
    assert_eq!(shown["answered"], json!([https]), "{shown}");
    assert_eq!(texts(&shown["posts"]), ["over tls"]);

    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "no certificate here").expect("write");
    let bad = agora(
        bob.path(),
        &["sync", "--ca-cert", not_pem.to_str().expect("utf-8")],
    )
    .await;
    assert!(
        !bad.success && bad.stderr.contains("CA certificate"),
        "{}",
        bad.stderr
    );
}
