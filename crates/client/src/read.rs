//! Reading what people wrote: the home feed merged from the local store (works offline), and a
//! post's replies and like/dislike/reply counts asked of several servers with the official
//! post-stats request of `GET /query_references`.

use std::collections::HashSet;

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Pointer, PublicKey, Reference, VerifiedEvent, content, wire};
use prost::Message as _;

use crate::client::distinct_servers;
use crate::remote::ServerError;
use crate::state::ImageInfo;
use crate::{Client, ClientError, Gathered, PostView, ServerFailure};

/// One post of the home feed, with its author's username as the local store knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPost {
    /// The identity that wrote it (the post itself may be signed by one of its devices).
    pub identity: PublicKey,
    pub username: Option<String>,
    pub post: PostView,
    /// The event this post replies to, when it is a reply.
    pub reply_to: Option<Pointer>,
}

/// A post's reactions as servers count them (spec section 9: the post-stats request).
#[derive(Clone, Debug, Default)]
pub struct PostStats {
    pub likes: u64,
    pub dislikes: u64,
    pub replies: u64,
    /// The replies served, each verified, without duplicates, oldest first by event time.
    pub reply_events: Vec<VerifiedEvent>,
}

impl PostStats {
    /// Merges another server's answer: counts take the maximum, since servers replicate the same
    /// opinions and summing would count one like once per server.
    fn merge(&mut self, other: PostStats) {
        self.likes = self.likes.max(other.likes);
        self.dislikes = self.dislikes.max(other.dislikes);
        self.replies = self.replies.max(other.replies);
        let held: HashSet<[u8; 56]> = self.reply_events.iter().map(|e| e.slot_key()).collect();
        self.reply_events.extend(
            other
                .reply_events
                .into_iter()
                .filter(|event| !held.contains(&event.slot_key())),
        );
        self.reply_events
            .sort_by_key(VerifiedEvent::unix_milliseconds);
    }
}

impl Client {
    /// The newest `limit` posts of this identity and every identity it follows, each with all
    /// of its devices, from the local store only, newest first by event time.
    pub async fn home_feed(&self, limit: usize) -> Result<Vec<FeedPost>, ClientError> {
        let mut identities = vec![self.identity()];
        identities.extend(self.following().await?);
        let blocked = self.blocked().await?;
        identities.retain(|identity| !blocked.contains(identity));
        let mut merged = Vec::new();
        for identity in dedup_systems(identities) {
            let username = self.profile(identity).await?.username;
            for member in self.members(identity).await? {
                merged.extend(self.posts(member).await?.into_iter().map(|post| FeedPost {
                    identity,
                    username: username.clone(),
                    post,
                    reply_to: None,
                }));
            }
        }
        merged.sort_by_key(|item| std::cmp::Reverse(item.post.unix_milliseconds));
        merged.truncate(limit);
        for item in &mut merged {
            item.reply_to = self
                .load(&item.post.pointer)
                .await?
                .as_ref()
                .and_then(reply_target);
        }
        Ok(merged)
    }

    /// Asks `servers` for `subject`'s replies and counts, verifying every served event; one
    /// server's failure never stops the others. Only each server's first page of replies is
    /// read; [`Client::post_stats_paged`] follows the cursor.
    pub async fn post_stats(&self, subject: &Pointer, servers: &[String]) -> Gathered<PostStats> {
        self.post_stats_paged(subject, servers, 1).await
    }

    /// As [`Client::post_stats`], reading up to `replies_max` replies from each server by
    /// following its references cursor page after page (at least one page is read). Replies by
    /// blocked identities are left out (the counts are the servers').
    pub async fn post_stats_paged(
        &self,
        subject: &Pointer,
        servers: &[String],
        replies_max: usize,
    ) -> Gathered<PostStats> {
        let asked = distinct_servers(servers)
            .into_iter()
            .map(|server| async move {
                let stats = self.post_stats_from(&server, subject, replies_max).await;
                (server, stats)
            });
        let mut gathered = Gathered {
            value: PostStats::default(),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, stats) in futures::future::join_all(asked).await {
            match stats {
                Ok(stats) => {
                    gathered.value.merge(stats);
                    gathered.answered.push(server);
                }
                Err(error) => {
                    tracing::warn!(%server, %error, "post stats failed");
                    gathered.failed.push(ServerFailure { server, error });
                }
            }
        }
        match self.blocked_keys().await {
            Ok(blocked) => gathered
                .value
                .reply_events
                .retain(|reply| !blocked.contains(reply.system())),
            Err(error) => tracing::warn!(%error, "cannot read the blocked identities"),
        }
        gathered
    }

    /// Who follows `system`, as `servers` know it (all asked at once): the authors whose latest
    /// FOLLOW of it, on any server, adds it (Agora's `GET /query_references` of a system
    /// reference, docs/protocol.md). Each author's devices count as that author's identity.
    pub async fn followers(
        &self,
        system: PublicKey,
        servers: &[String],
    ) -> Gathered<Vec<PublicKey>> {
        let asked = self
            .ask_each(servers, "followers", |server| async move {
                self.follow_events_from(&server, system).await
            })
            .await;
        let subject = system.to_wire().encode_to_vec();
        // Per author: the LWW order of its FOLLOW writes of `system` (time, then value bytes).
        let mut latest: std::collections::HashMap<PublicKey, (u64, bool)> = Default::default();
        for (_, events) in &asked.value {
            for event in events {
                let Some(set) = &event.event().lww_element_set else {
                    continue;
                };
                if set.value[..] != subject[..] {
                    continue;
                }
                let added = set.operation == wire::lww_element_set::Operation::Add as i32;
                let entry = latest.entry(*event.system()).or_insert((0, false));
                if (set.unix_milliseconds, added) > *entry {
                    *entry = (set.unix_milliseconds, added);
                }
            }
        }
        let mut followers = Vec::new();
        for (author, (_, added)) in latest {
            if !added {
                continue;
            }
            let identity = self.identity_of(author).await.unwrap_or(author);
            if !followers.contains(&identity) {
                followers.push(identity);
            }
        }
        followers.sort();
        asked.with_value(followers)
    }

    /// The FOLLOW events of `system` one server holds, page after page (at most 50 pages).
    async fn follow_events_from(
        &self,
        server: &str,
        system: PublicKey,
    ) -> Result<Vec<VerifiedEvent>, ServerError> {
        const PAGES_MAX: usize = 50;
        let mut request = wire::QueryReferencesRequest {
            reference: Some(wire::Reference {
                reference_type: content::REFERENCE_SYSTEM,
                reference: system.to_wire().encode_to_vec().into(),
            }),
            request_events: Some(wire::QueryReferencesRequestEvents {
                from_type: Some(content::FOLLOW),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut events = Vec::new();
        for _ in 0..PAGES_MAX {
            let page = self.references_page(server, &request).await?;
            for signed in page.items.iter().filter_map(|item| item.event.as_ref()) {
                let event = VerifiedEvent::verify(signed)
                    .map_err(|error| ServerError::InvalidEvent(error.to_string()))?;
                if event.content_type() == content::FOLLOW {
                    events.push(event);
                }
            }
            match page.cursor {
                Some(cursor) if !page.items.is_empty() => request.cursor = Some(cursor),
                _ => break,
            }
        }
        Ok(events)
    }

    /// The first page's counts, and replies page after page until `replies_max` were served,
    /// a page comes back empty, or the server gives no cursor.
    async fn post_stats_from(
        &self,
        server: &str,
        subject: &Pointer,
        replies_max: usize,
    ) -> Result<PostStats, ServerError> {
        let mut request = post_stats_request(subject);
        let first = self.references_page(server, &request).await?;
        let mut stats = stats_of(&first, subject)?;
        let mut served = first.items.len();
        let mut cursor = first.cursor;
        while let Some(next) = cursor.take().filter(|_| served < replies_max) {
            request.cursor = Some(next);
            let page = self.references_page(server, &request).await?;
            if page.items.is_empty() {
                break;
            }
            served += page.items.len();
            stats.reply_events.extend(replies_of(&page, subject)?);
            cursor = page.cursor;
        }
        stats
            .reply_events
            .sort_by_key(VerifiedEvent::unix_milliseconds);
        Ok(stats)
    }

    async fn references_page(
        &self,
        server: &str,
        request: &wire::QueryReferencesRequest,
    ) -> Result<wire::QueryReferencesResponse, ServerError> {
        let url = format!(
            "{server}/query_references?query={}",
            base64url_encode(&request.encode_to_vec())
        );
        let body = self.remote(server).read(self.http.get(url)).await?;
        wire::QueryReferencesResponse::decode(body).map_err(|error| ServerError::Malformed {
            what: "query_references response",
            reason: error.to_string(),
        })
    }
}

pub use agora_protocol::author::post_stats_request;

/// Parses one server's answer: three counts, and replies that verify and reference `subject`.
fn stats_of(
    answer: &wire::QueryReferencesResponse,
    subject: &Pointer,
) -> Result<PostStats, ServerError> {
    let [likes, dislikes, replies] = answer.counts[..] else {
        return Err(ServerError::Malformed {
            what: "query_references response",
            reason: format!("{} counts where 3 were asked", answer.counts.len()),
        });
    };
    let mut reply_events = replies_of(answer, subject)?;
    reply_events.sort_by_key(VerifiedEvent::unix_milliseconds);
    Ok(PostStats {
        likes,
        dislikes,
        replies,
        reply_events,
    })
}

/// The replies of one page, each verified and referencing `subject`.
fn replies_of(
    answer: &wire::QueryReferencesResponse,
    subject: &Pointer,
) -> Result<Vec<VerifiedEvent>, ServerError> {
    let mut reply_events = Vec::new();
    for signed in answer.items.iter().filter_map(|item| item.event.as_ref()) {
        let event = VerifiedEvent::verify(signed)
            .map_err(|error| ServerError::InvalidEvent(error.to_string()))?;
        if reply_target(&event).is_none_or(|target| !same_slot(&target, subject)) {
            return Err(ServerError::InvalidEvent(
                "a served reply does not reference the asked post".to_owned(),
            ));
        }
        reply_events.push(event);
    }
    Ok(reply_events)
}

/// The text, pointer and time of a post event; `None` for other types and malformed posts.
pub fn post_view(event: &VerifiedEvent) -> Option<PostView> {
    if event.content_type() != content::POST {
        return None;
    }
    let post = wire::Post::decode(event.event().content.clone()).ok()?;
    Some(PostView {
        pointer: event.pointer(),
        text: post.content?,
        unix_milliseconds: event.unix_milliseconds(),
        image: post.image.as_ref().map(ImageInfo::of),
        edited_ms: None,
        topic: event
            .references()
            .iter()
            .find_map(|reference| match reference {
                Reference::Bytes(bytes) => String::from_utf8(bytes.to_vec()).ok(),
                _ => None,
            }),
    })
}

/// `post` as its latest edit shows it: the edit's text, and when it was edited.
pub fn with_edit(post: PostView, edit: &VerifiedEvent) -> PostView {
    PostView {
        text: agora_protocol::edits::edit_text(edit).unwrap_or(post.text),
        edited_ms: Some(edit.unix_milliseconds().unwrap_or(0)),
        ..post
    }
}

/// The image manifest of a post event, when it has one.
pub fn post_manifest(event: &VerifiedEvent) -> Option<wire::ImageManifest> {
    if event.content_type() != content::POST {
        return None;
    }
    wire::Post::decode(event.event().content.clone())
        .ok()?
        .image
}

/// The event a post replies to: its first pointer reference.
pub fn reply_target(event: &VerifiedEvent) -> Option<Pointer> {
    if event.content_type() != content::POST {
        return None;
    }
    event
        .references()
        .iter()
        .find_map(|reference| match reference {
            Reference::Pointer(pointer) => Some(*pointer),
            _ => None,
        })
}

fn same_slot(a: &Pointer, b: &Pointer) -> bool {
    a.slot_key() == b.slot_key()
}

fn dedup_systems(systems: Vec<PublicKey>) -> Vec<PublicKey> {
    let mut seen = HashSet::new();
    systems
        .into_iter()
        .filter(|system| seen.insert(*system))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_several_servers_take_the_maximum() {
        let mut stats = PostStats {
            likes: 2,
            dislikes: 0,
            replies: 1,
            reply_events: Vec::new(),
        };
        stats.merge(PostStats {
            likes: 1,
            dislikes: 3,
            replies: 1,
            reply_events: Vec::new(),
        });
        assert_eq!((stats.likes, stats.dislikes, stats.replies), (2, 3, 1));
    }

    #[test]
    fn an_answer_without_three_counts_is_malformed() {
        let subject = Pointer {
            system: agora_protocol::SecretKey::from_seed(&[7; 32]).public_key(),
            process: agora_protocol::Process::from_bytes(&[1; 16]).expect("process"),
            logical_clock: 1,
            digest: None,
        };
        let answer = wire::QueryReferencesResponse {
            counts: vec![1, 2],
            ..Default::default()
        };
        assert!(matches!(
            stats_of(&answer, &subject),
            Err(ServerError::Malformed { .. })
        ));
    }
}
