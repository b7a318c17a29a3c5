//! Local state computed from the local store: the LWW sets (servers, follows), the LWW profile
//! elements, and a system's posts. Only what the local store holds counts: pull first to see
//! what servers know.

use std::collections::HashSet;

use agora_protocol::crdt::{LwwStamp, lww_element_replaces};
use agora_protocol::{Pointer, PublicKey, VerifiedEvent, content, wire};
use agora_store::{IndexCursor, IndexQuery, Store as _};
use prost::Message as _;

use crate::client::stored_corrupt;
use crate::{Client, ClientError};

/// Events read per page when walking a system's per-type feed.
const FEED_PAGE_EVENTS: usize = 500;

/// A system's profile as the local store knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub username: Option<String>,
    pub description: Option<String>,
}

/// One post, as read from the local store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostView {
    pub pointer: Pointer,
    pub text: String,
    pub unix_milliseconds: Option<u64>,
    /// The attached image's description, when the post has one.
    pub image: Option<ImageInfo>,
    /// When the text shown is an edit's (docs/protocol.md, "Edits"): the edit's time.
    pub edited_ms: Option<u64>,
    /// The topic it was posted in (its bytes reference, as official clients write topics).
    pub topic: Option<String>,
}

/// What a post's image manifest says about the image; `Client::post_image_bytes` fetches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub mime: String,
    pub width: u64,
    pub height: u64,
    pub byte_count: u64,
}

impl ImageInfo {
    pub fn of(manifest: &wire::ImageManifest) -> Self {
        Self {
            mime: manifest.mime.clone(),
            width: manifest.width,
            height: manifest.height,
            byte_count: manifest.byte_count,
        }
    }
}

impl Client {
    /// This identity's servers: the SERVER set of the identity and all its devices, sorted.
    pub async fn servers(&self) -> Result<Vec<String>, ClientError> {
        self.servers_of(self.identity()).await
    }

    /// The SERVER set of any system's identity, as far as the local store knows it.
    pub async fn servers_of(&self, system: PublicKey) -> Result<Vec<String>, ClientError> {
        let members = self.members_of_identity(system).await?;
        let members = self.lww_set(&members, content::SERVER).await?;
        Ok(members
            .into_iter()
            .filter_map(|value| String::from_utf8(value).ok())
            .collect())
    }

    /// The identities this identity follows (from whichever of its devices wrote each follow).
    pub async fn following(&self) -> Result<Vec<PublicKey>, ClientError> {
        self.key_set(content::FOLLOW).await
    }

    /// The identities this identity blocks (BLOCK, from whichever of its devices wrote it).
    pub async fn blocked(&self) -> Result<Vec<PublicKey>, ClientError> {
        self.key_set(content::BLOCK).await
    }

    /// Every key whose events are hidden: the blocked identities and the devices the local
    /// store knows of them.
    pub async fn blocked_keys(&self) -> Result<HashSet<PublicKey>, ClientError> {
        let mut keys = HashSet::new();
        for identity in self.blocked().await? {
            keys.extend(self.members(identity).await?);
        }
        Ok(keys)
    }

    /// An LWW set of serialized keys (FOLLOW, BLOCK) over this identity's members.
    async fn key_set(&self, content_type: u64) -> Result<Vec<PublicKey>, ClientError> {
        let members = self.members(self.identity()).await?;
        let members = self.lww_set(&members, content_type).await?;
        Ok(members
            .iter()
            .filter_map(|value| wire::PublicKey::decode(value.as_slice()).ok())
            .filter_map(|key| PublicKey::try_from(&key).ok())
            .collect())
    }

    /// The username and description of a system's identity: per element, the greatest (lww
    /// time, process) among the identity's and its devices' writes.
    pub async fn profile(&self, system: PublicKey) -> Result<Profile, ClientError> {
        let events = self
            .latest_of_identity(system, &[content::USERNAME, content::DESCRIPTION])
            .await?;
        let text = |content_type| {
            lww_winner(&events, content_type)
                .and_then(|value| String::from_utf8(value.to_vec()).ok())
        };
        Ok(Profile {
            username: text(content::USERNAME),
            description: text(content::DESCRIPTION),
        })
    }

    /// The winning value of one LWW element of a system's identity (AVATAR, BANNER, …), if any
    /// is held.
    pub(crate) async fn element(
        &self,
        system: PublicKey,
        content_type: u64,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let events = self.latest_of_identity(system, &[content_type]).await?;
        Ok(lww_winner(&events, content_type).map(<[u8]>::to_vec))
    }

    /// The systems of `system`'s identity: the identity and its devices.
    async fn members_of_identity(&self, system: PublicKey) -> Result<Vec<PublicKey>, ClientError> {
        let identity = self.identity_of(system).await?;
        self.members(identity).await
    }

    /// Per process and type, the latest of `content_types` of every system of `system`'s
    /// identity.
    async fn latest_of_identity(
        &self,
        system: PublicKey,
        content_types: &[u64],
    ) -> Result<Vec<VerifiedEvent>, ClientError> {
        let mut events = Vec::new();
        for member in self.members_of_identity(system).await? {
            let latest = self.store.latest(member, content_types.to_vec()).await?;
            events.extend(verify_all(&latest)?);
        }
        Ok(events)
    }

    /// A system's live posts held locally, newest first, each as its latest edit shows it.
    pub async fn posts(&self, system: PublicKey) -> Result<Vec<PostView>, ClientError> {
        let events = self.feed(system, content::POST).await?;
        let posts: Vec<PostView> = events.iter().filter_map(crate::post_view).collect();
        let latest = self
            .latest_edits(posts.iter().map(|post| post.pointer.slot_key()).collect())
            .await;
        Ok(posts
            .into_iter()
            .map(|post| match latest.get(&post.pointer.slot_key()) {
                Some(edit) => crate::read::with_edit(post, edit),
                None => post,
            })
            .collect())
    }

    /// The latest edit held locally of each of the posts in `slots` (by slot key); a failed
    /// read only leaves posts unedited.
    pub(crate) async fn latest_edits(
        &self,
        slots: Vec<[u8; 56]>,
    ) -> std::collections::HashMap<[u8; 56], VerifiedEvent> {
        let edits = match self.store.latest_edits(slots).await {
            Ok(edits) => edits,
            Err(error) => {
                tracing::warn!(%error, "cannot read edits");
                return Default::default();
            }
        };
        edits
            .iter()
            .filter_map(|signed| VerifiedEvent::verify(signed).ok())
            .filter_map(|edit| {
                let target = agora_protocol::edits::edit_target(&edit)?;
                Some((target.slot_key(), edit))
            })
            .collect()
    }

    /// `post` as its latest locally held edit shows it.
    pub async fn current(&self, post: PostView) -> PostView {
        let slot = post.pointer.slot_key();
        match self.latest_edits(vec![slot]).await.get(&slot) {
            Some(edit) => crate::read::with_edit(post, edit),
            None => post,
        }
    }

    /// Every version of a post held locally: the post, then each edit, oldest first.
    pub async fn history(&self, post: &Pointer) -> Result<Vec<PostView>, ClientError> {
        let Some(original) = self.load(post).await?.as_ref().and_then(crate::post_view) else {
            return Ok(Vec::new());
        };
        let mut versions = vec![original.clone()];
        for signed in self.store.edits(post.slot_key()).await? {
            let edit = VerifiedEvent::verify(&signed).map_err(stored_corrupt)?;
            versions.push(crate::read::with_edit(original.clone(), &edit));
        }
        Ok(versions)
    }

    /// Edits one of this device's posts: the latest edit is what readers show.
    pub async fn edit(&self, post: &Pointer, text: &str) -> Result<Pointer, ClientError> {
        if post.system != self.system() {
            return Err(ClientError::NotOwn(Box::new(*post)));
        }
        let event = self
            .load(post)
            .await?
            .ok_or_else(|| ClientError::NotFound(Box::new(*post)))?;
        if event.content_type() != content::POST {
            return Err(ClientError::Refused(format!(
                "only posts can be edited; this event is of type {}",
                event.content_type()
            )));
        }
        if text.len() > content::POST_TEXT_BYTES_MAX {
            return Err(ClientError::PostTooLong(text.len()));
        }
        let draft = agora_protocol::edits::edit_draft(&event.pointer(), text);
        self.publish(|author, ms| author.publish(draft, ms)).await
    }

    /// The members of an LWW element set written by any of `systems` (one identity's): per
    /// value, the winning operation, kept when an ADD.
    async fn lww_set(
        &self,
        systems: &[PublicKey],
        content_type: u64,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut events = Vec::new();
        for system in systems {
            events.extend(self.feed(*system, content_type).await?);
        }
        // A tombstone in a deleted event's slot, or a malformed event, has no set write.
        Ok(agora_protocol::crdt::set_members(events.iter().filter_map(
            |event| event.event().lww_element_set.as_ref(),
        )))
    }

    /// Every event of a system's per-type feed in the local store, page by page.
    pub(crate) async fn feed(
        &self,
        system: PublicKey,
        content_type: u64,
    ) -> Result<Vec<VerifiedEvent>, ClientError> {
        let mut events = Vec::new();
        let mut cursor = IndexCursor::Start;
        loop {
            let query = IndexQuery {
                system,
                content_type,
                cursor,
                limit: FEED_PAGE_EVENTS,
            };
            let page = self.store.index(query).await?;
            events.extend(verify_all(&page.events)?);
            match page.next.as_deref().and_then(IndexCursor::decode) {
                Some(next) => cursor = next,
                None => return Ok(events),
            }
        }
    }
}

pub(crate) fn verify_all(signed: &[wire::SignedEvent]) -> Result<Vec<VerifiedEvent>, ClientError> {
    signed
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).map_err(stored_corrupt))
        .collect()
}

/// The value of the winning LWW element write of `content_type` among `events`.
fn lww_winner(events: &[VerifiedEvent], content_type: u64) -> Option<&[u8]> {
    let mut winner: Option<(LwwStamp, &[u8])> = None;
    for event in events.iter().filter(|e| e.content_type() == content_type) {
        let Some(element) = event.event().lww_element.as_ref() else {
            continue;
        };
        let stamp = LwwStamp {
            unix_milliseconds: element.unix_milliseconds,
            process: *event.process(),
        };
        if winner.is_none_or(|(current, _)| lww_element_replaces(&stamp, &current)) {
            winner = Some((stamp, &element.value));
        }
    }
    winner.map(|(_, value)| value)
}
