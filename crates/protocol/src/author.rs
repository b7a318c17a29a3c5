//! Building a process's next events: logical clocks, index back-pointers and signatures, exactly
//! as spec section 3.1 describes, so official clients accept them. Pure: the caller passes the time.

use prost::Message as _;

use crate::content::{self, REFERENCE_BYTES, REFERENCE_POINTER};
use crate::event::{EventError, VerifiedEvent};
use crate::keys::{Pointer, Process, PublicKey, SecretKey};
use crate::wire;

/// One process of one identity, publishing events in order.
#[derive(Debug)]
pub struct Author {
    secret: SecretKey,
    process: Process,
    /// The clock of the last event published; the next one gets this plus one.
    logical_clock: u64,
    /// Per content type, the clock of this process's latest event of that type, in first-seen
    /// order: the `indices` of the next event.
    indices: Vec<wire::Index>,
}

/// What varies between events; everything else the author fills in.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub content_type: u64,
    pub content: Vec<u8>,
    pub lww_element: Option<wire::LwwElement>,
    pub lww_element_set: Option<wire::LwwElementSet>,
    pub references: Vec<wire::Reference>,
}

impl Author {
    pub fn new(secret: SecretKey, process: Process) -> Self {
        Self {
            secret,
            process,
            logical_clock: 0,
            indices: Vec::new(),
        }
    }

    /// Continues a process that has already published up to `logical_clock`.
    pub fn resume(
        secret: SecretKey,
        process: Process,
        logical_clock: u64,
        indices: Vec<wire::Index>,
    ) -> Self {
        Self {
            secret,
            process,
            logical_clock,
            indices,
        }
    }

    pub fn system(&self) -> PublicKey {
        self.secret.public_key()
    }

    pub fn process(&self) -> Process {
        self.process
    }

    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    pub fn logical_clock(&self) -> u64 {
        self.logical_clock
    }

    /// Signs the next event of this process at `unix_milliseconds`.
    pub fn publish(
        &mut self,
        draft: Draft,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let clock = self.logical_clock + 1;
        let event = wire::Event {
            system: Some(self.system().to_wire()),
            process: Some(self.process.to_wire()),
            logical_clock: clock,
            content_type: draft.content_type,
            content: draft.content.into(),
            vector_clock: Some(wire::VectorClock::default()),
            indices: Some(wire::Indices {
                indices: self.indices.clone(),
            }),
            lww_element_set: draft.lww_element_set,
            lww_element: draft.lww_element,
            references: draft.references,
            unix_milliseconds: Some(unix_milliseconds),
        };
        let signed = VerifiedEvent::sign(&self.secret, &event)?;
        self.logical_clock = clock;
        match self
            .indices
            .iter_mut()
            .find(|index| index.index_type == draft.content_type)
        {
            Some(index) => index.logical_clock = clock,
            None => self.indices.push(wire::Index {
                index_type: draft.content_type,
                logical_clock: clock,
            }),
        }
        Ok(signed)
    }

    pub fn post(
        &mut self,
        text: &str,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        self.publish(post_draft(text, Vec::new()), unix_milliseconds)
    }

    pub fn reply(
        &mut self,
        text: &str,
        parent: &Pointer,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        self.publish(
            post_draft(text, vec![pointer_reference(parent)]),
            unix_milliseconds,
        )
    }

    pub fn topic_post(
        &mut self,
        text: &str,
        topic: &str,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let reference = wire::Reference {
            reference_type: REFERENCE_BYTES,
            reference: topic.as_bytes().to_vec().into(),
        };
        self.publish(post_draft(text, vec![reference]), unix_milliseconds)
    }

    /// Sets an LWW element such as USERNAME or DESCRIPTION.
    pub fn set_element(
        &mut self,
        content_type: u64,
        value: &[u8],
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let draft = Draft {
            content_type,
            lww_element: Some(wire::LwwElement {
                value: value.to_vec().into(),
                unix_milliseconds,
            }),
            ..Draft::default()
        };
        self.publish(draft, unix_milliseconds)
    }

    /// Adds or removes a value of an LWW element set such as FOLLOW or SERVER.
    pub fn set_member(
        &mut self,
        content_type: u64,
        value: &[u8],
        add: bool,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let operation = if add {
            wire::lww_element_set::Operation::Add
        } else {
            wire::lww_element_set::Operation::Remove
        };
        let draft = Draft {
            content_type,
            lww_element_set: Some(wire::LwwElementSet {
                operation: operation.into(),
                value: value.to_vec().into(),
                unix_milliseconds,
            }),
            ..Draft::default()
        };
        self.publish(draft, unix_milliseconds)
    }

    pub fn follow(
        &mut self,
        system: &PublicKey,
        follow: bool,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        self.set_member(
            content::FOLLOW,
            &system.to_wire().encode_to_vec(),
            follow,
            unix_milliseconds,
        )
    }

    /// Blocks (or unblocks) a system: an LWW set member of BLOCK (18), as the official clients
    /// write it.
    pub fn block(
        &mut self,
        system: &PublicKey,
        block: bool,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        self.set_member(
            content::BLOCK,
            &system.to_wire().encode_to_vec(),
            block,
            unix_milliseconds,
        )
    }

    /// An opinion on an event: `content::opinion::LIKE`, `DISLIKE` or `NEUTRAL`.
    pub fn opinion(
        &mut self,
        subject: &Pointer,
        value: &[u8],
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let draft = Draft {
            content_type: content::OPINION,
            lww_element: Some(wire::LwwElement {
                value: value.to_vec().into(),
                unix_milliseconds,
            }),
            references: vec![pointer_reference(subject)],
            ..Draft::default()
        };
        self.publish(draft, unix_milliseconds)
    }

    /// Deletes one of this system's events, copying its type, time and indices (spec 3.5).
    pub fn delete(
        &mut self,
        target: &VerifiedEvent,
        unix_milliseconds: u64,
    ) -> Result<VerifiedEvent, EventError> {
        let delete = wire::Delete {
            process: Some(target.process().to_wire()),
            logical_clock: target.logical_clock(),
            indices: target.event().indices.clone(),
            unix_milliseconds: target.unix_milliseconds(),
            content_type: target.content_type(),
        };
        let draft = Draft {
            content_type: content::DELETE,
            content: delete.encode_to_vec(),
            ..Draft::default()
        };
        self.publish(draft, unix_milliseconds)
    }
}

fn post_draft(text: &str, references: Vec<wire::Reference>) -> Draft {
    let post = wire::Post {
        content: Some(text.to_owned()),
        image: None,
    };
    Draft {
        content_type: content::POST,
        content: post.encode_to_vec(),
        references,
        ..Draft::default()
    }
}

/// The official clients' post-stats request (spec section 6.3): the replies (posts referencing
/// `subject`), and the counts [likes from OPINION, dislikes from OPINION, replies from POST].
pub fn post_stats_request(subject: &Pointer) -> wire::QueryReferencesRequest {
    let opinion = |value: &[u8]| wire::QueryReferencesRequestCountLwwElementReferences {
        value: value.to_vec().into(),
        from_type: Some(content::OPINION),
    };
    wire::QueryReferencesRequest {
        reference: Some(pointer_reference(subject)),
        cursor: None,
        request_events: Some(wire::QueryReferencesRequestEvents {
            from_type: Some(content::POST),
            count_lww_element_references: Vec::new(),
            count_references: Vec::new(),
        }),
        count_lww_element_references: vec![
            opinion(content::opinion::LIKE),
            opinion(content::opinion::DISLIKE),
        ],
        count_references: vec![wire::QueryReferencesRequestCountReferences {
            from_type: Some(content::POST),
        }],
        extra_byte_references: Vec::new(),
    }
}

/// A pointer reference (type 2) to an event.
pub fn pointer_reference(pointer: &Pointer) -> wire::Reference {
    wire::Reference {
        reference_type: REFERENCE_POINTER,
        reference: pointer.to_wire().encode_to_vec().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_count_from_one_and_indices_point_back_per_type() {
        let mut author = Author::new(
            SecretKey::from_seed(&[5; 32]),
            Process::from_bytes(&[6; 16]).expect("16"),
        );
        let first = author.post("one", 10).expect("post");
        let name = author
            .set_element(content::USERNAME, b"ann", 11)
            .expect("name");
        let second = author.post("two", 12).expect("post");
        assert_eq!(
            (
                first.logical_clock(),
                name.logical_clock(),
                second.logical_clock()
            ),
            (1, 2, 3)
        );
        assert!(
            first
                .event()
                .indices
                .as_ref()
                .expect("indices")
                .indices
                .is_empty()
        );
        let indices = &second.event().indices.as_ref().expect("indices").indices;
        assert_eq!(
            indices,
            &vec![
                wire::Index {
                    index_type: content::POST,
                    logical_clock: 1
                },
                wire::Index {
                    index_type: content::USERNAME,
                    logical_clock: 2
                },
            ]
        );
    }
}
