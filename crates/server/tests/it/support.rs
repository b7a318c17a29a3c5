//! A small HTTP client for the tests, speaking the wire protocol directly.

use agora_protocol::author::Author;
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Process, PublicKey, SecretKey, VerifiedEvent, wire};
use prost::Message;
use reqwest::StatusCode;

pub fn author(seed: u8) -> Author {
    Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed; 16]).expect("16"),
    )
}

/// A second device of the same identity.
pub fn second_process(seed: u8) -> Author {
    Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed ^ 0xff; 16]).expect("16"),
    )
}

pub struct Http {
    pub base: String,
    client: reqwest::Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn decode<M: Message + Default>(&self) -> M {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "expected 200, got {}: {}",
            self.status,
            self.text()
        );
        M::decode(self.body.clone()).expect("response decodes")
    }
}

impl Http {
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
        }
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .body(body)
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    pub async fn publish(&self, events: &[&VerifiedEvent]) -> Answer {
        let batch = wire::Events {
            events: events.iter().map(|event| event.to_signed()).collect(),
        };
        self.post_raw("/events", batch.encode_to_vec()).await
    }

    pub async fn get(&self, path_and_query: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    pub async fn ranges(&self, system: &PublicKey) -> Vec<(Vec<u8>, Vec<(u64, u64)>)> {
        let ranges: wire::RangesForSystem = self
            .get(&format!("/ranges?system={}", system.to_query_param()))
            .await
            .decode();
        ranges
            .ranges_for_processes
            .into_iter()
            .map(|p| {
                let process = p.process.expect("process").process.to_vec();
                (
                    process,
                    p.ranges.into_iter().map(|r| (r.low, r.high)).collect(),
                )
            })
            .collect()
    }

    pub async fn events(&self, author: &Author, low: u64, high: u64) -> Vec<wire::SignedEvent> {
        let ranges = wire::RangesForSystem {
            ranges_for_processes: vec![wire::RangesForProcess {
                process: Some(author.process().to_wire()),
                ranges: vec![wire::Range { low, high }],
            }],
        };
        let path = format!(
            "/events?system={}&ranges={}",
            author.system().to_query_param(),
            base64url_encode(&ranges.encode_to_vec())
        );
        let events: wire::Events = self.get(&path).await.decode();
        events.events
    }

    pub async fn index(
        &self,
        system: &PublicKey,
        content_type: u64,
        extra: &str,
    ) -> wire::QueryIndexResponse {
        let path = format!(
            "/query_index?system={}&content_type={content_type}{extra}",
            system.to_query_param()
        );
        self.get(&path).await.decode()
    }

    pub async fn references(
        &self,
        request: &wire::QueryReferencesRequest,
    ) -> wire::QueryReferencesResponse {
        let path = format!(
            "/query_references?query={}",
            base64url_encode(&request.encode_to_vec())
        );
        self.get(&path).await.decode()
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

/// The logical clocks of served events, after checking every signature.
pub fn clocks(events: &[wire::SignedEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|event| {
            VerifiedEvent::verify(event)
                .expect("server serves valid events")
                .logical_clock()
        })
        .collect()
}

/// The official post-stats request: [likes, dislikes, replies], and the replies themselves.
pub fn post_stats(
    subject: &VerifiedEvent,
    cursor: Option<Vec<u8>>,
) -> wire::QueryReferencesRequest {
    let like = |value: u8| wire::QueryReferencesRequestCountLwwElementReferences {
        value: vec![value].into(),
        from_type: Some(agora_protocol::content::OPINION),
    };
    wire::QueryReferencesRequest {
        reference: Some(agora_protocol::author::pointer_reference(
            &subject.pointer(),
        )),
        cursor: cursor.map(Into::into),
        request_events: Some(wire::QueryReferencesRequestEvents {
            from_type: Some(agora_protocol::content::POST),
            count_lww_element_references: vec![like(1)],
            count_references: vec![],
        }),
        count_lww_element_references: vec![like(1), like(2)],
        count_references: vec![wire::QueryReferencesRequestCountReferences {
            from_type: Some(agora_protocol::content::POST),
        }],
        extra_byte_references: vec![],
    }
}
