//! Graceful shutdown: a request already in flight when shutdown starts is answered and its
//! events are stored; new connections are refused.

use agora_protocol::wire;
use agora_server::{Server, ServerConfig};
use agora_store::Store as _;
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::author;

#[tokio::test]
async fn shutdown_finishes_a_request_in_flight() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(data_dir.path(), SqliteOptions::default()).expect("store");
    let config = ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config, store.clone()).await.expect("bind");
    let address = server.local_addr();
    let mut alice = author(1);
    let post = alice.post("sent during shutdown", 1_000).expect("sign");
    let body = wire::Events {
        events: vec![post.to_signed()],
    }
    .encode_to_vec();

    let mut connection = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST /events HTTP/1.1\r\nhost: {address}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    connection
        .write_all(head.as_bytes())
        .await
        .expect("headers");
    let (first, rest) = body.split_at(body.len() / 2);
    connection.write_all(first).await.expect("first half");
    connection.flush().await.expect("flush");
    // Give the server time to accept the connection and start reading the request.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(address).await.is_err(),
        "no new connections once stopping"
    );
    connection.write_all(rest).await.expect("second half");
    let mut response = Vec::new();
    connection
        .read_to_end(&mut response)
        .await
        .expect("response");

    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    stopping.await.expect("task").expect("clean shutdown");
    let held = store.ranges(alice.system()).await.expect("ranges");
    assert_eq!(held.len(), 1, "the event sent during shutdown was stored");
}
