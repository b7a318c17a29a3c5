//! Watching servers live (`GET /stream`, docs/protocol.md "Live stream"): one subscription per
//! server, every event verified and stored locally, and each event reported once however many
//! servers deliver it. A connection that drops is resumed from the last position it delivered.

use std::time::Duration;

use agora_protocol::encoding::base64url_decode;
use agora_protocol::{PublicKey, VerifiedEvent, wire};
use agora_store::{IngestOutcome, Store as _};
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::mpsc;

use crate::client::distinct_servers;
use crate::remote::{ServerError, malformed};
use crate::{Client, ServerFailure};

/// How long a watch waits before reconnecting to a server whose stream ended or failed.
pub const WATCH_RECONNECT: Duration = Duration::from_secs(1);

/// What a watch reports.
#[derive(Debug)]
pub enum Watched {
    /// A server's stream is open: events committed there from now on will arrive.
    Connected { server: String },
    /// An event new to the local store, from the first server that delivered it.
    Event {
        server: String,
        event: Box<VerifiedEvent>,
    },
    /// A server's stream failed; it is tried again from its last position unless it served an
    /// invalid event, in which case it is dropped for the rest of the watch.
    Failed {
        failure: ServerFailure,
        dropped: bool,
    },
}

impl Client {
    /// Watches `systems` on every one of `servers` until `sink` is closed. Each event must
    /// verify, belong to one of `systems` and pass the content rules; the local store keeps it
    /// (applying deletes and revocations as ever), and only events it did not hold yet are
    /// reported, so two servers never report one event twice.
    pub async fn watch(
        &self,
        servers: &[String],
        systems: &[PublicKey],
        sink: mpsc::Sender<Watched>,
    ) {
        let watches = distinct_servers(servers)
            .into_iter()
            .map(|server| self.watch_server(server, systems, sink.clone()));
        futures::future::join_all(watches).await;
    }

    async fn watch_server(
        &self,
        server: String,
        systems: &[PublicKey],
        sink: mpsc::Sender<Watched>,
    ) {
        let mut position = None;
        loop {
            let result = self
                .follow_stream(&server, systems, &mut position, &sink)
                .await;
            if sink.is_closed() {
                return;
            }
            let error = match result {
                Ok(()) => ServerError::Malformed {
                    what: "stream",
                    reason: "the stream ended".to_owned(),
                },
                Err(error) => error,
            };
            let dropped = matches!(
                error,
                ServerError::InvalidEvent(_) | ServerError::WrongSystem { .. }
            );
            let failure = ServerFailure {
                server: server.clone(),
                error,
            };
            if sink
                .send(Watched::Failed { failure, dropped })
                .await
                .is_err()
                || dropped
            {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(WATCH_RECONNECT) => {}
                () = sink.closed() => return,
            }
        }
    }

    /// Reads one connection of a server's stream; `position` is where it resumes next time.
    async fn follow_stream(
        &self,
        server: &str,
        systems: &[PublicKey],
        position: &mut Option<u64>,
        sink: &mpsc::Sender<Watched>,
    ) -> Result<(), ServerError> {
        let keys: Vec<String> = systems.iter().map(PublicKey::to_query_param).collect();
        let mut request = self
            .stream_http
            .get(format!("{server}/stream"))
            .query(&[("systems", keys.join(","))]);
        if let Some(position) = position {
            request = request.header("last-event-id", position.to_string());
        }
        let response = request.send().await.map_err(ServerError::Request)?;
        let response = crate::remote::checked(response).await?;
        // A message longer than any event can be (a server streaming one endless line) is cut
        // off instead of buffered.
        let mut pending = 0_usize;
        let bounded = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            pending = agora_store::stream::open_message_bytes(pending, &chunk);
            if pending > agora_store::stream::MESSAGE_BYTES_MAX {
                return Err(std::io::Error::other(format!(
                    "a stream message longer than {} MiB",
                    agora_store::stream::MESSAGE_BYTES_MAX / (1024 * 1024)
                )));
            }
            Ok(chunk)
        });
        let mut events = bounded.eventsource();
        loop {
            let message = tokio::select! {
                message = events.next() => message,
                () = sink.closed() => return Ok(()),
            };
            let Some(message) = message else {
                return Ok(());
            };
            let message = message.map_err(|error| malformed("stream", error))?;
            let at: u64 = message
                .id
                .parse()
                .map_err(|_| malformed("stream", format!("position {:?}", message.id)))?;
            if message.event == "position" {
                let open = Watched::Connected {
                    server: server.to_owned(),
                };
                if sink.send(open).await.is_err() {
                    return Ok(());
                }
            } else if message.event == "event" {
                let event = served_event(&message.data, systems)?;
                let outcome = self
                    .store
                    .ingest(vec![event.clone()])
                    .await
                    .map_err(|error| ServerError::Local(error.to_string()))?;
                if outcome.first() == Some(&IngestOutcome::Stored) {
                    let new = Watched::Event {
                        server: server.to_owned(),
                        event: Box::new(event),
                    };
                    if sink.send(new).await.is_err() {
                        return Ok(());
                    }
                }
            }
            *position = Some(at);
        }
    }
}

/// One streamed event: decoded, verified, of a watched system, within the content rules.
fn served_event(data: &str, systems: &[PublicKey]) -> Result<VerifiedEvent, ServerError> {
    let bytes = base64url_decode(data).map_err(|error| malformed("stream event", error))?;
    let signed = wire::SignedEvent::decode(bytes.as_slice())
        .map_err(|error| malformed("stream event", error))?;
    let event = VerifiedEvent::verify(&signed)
        .map_err(|error| ServerError::InvalidEvent(error.to_string()))?;
    if !systems.contains(event.system()) {
        return Err(ServerError::WrongSystem {
            asked: "a watched system".to_owned(),
            served: event.system().to_string(),
        });
    }
    agora_protocol::content::check(&event, agora_protocol::content::POST_TEXT_BYTES_MAX)
        .map_err(ServerError::InvalidEvent)?;
    Ok(event)
}
