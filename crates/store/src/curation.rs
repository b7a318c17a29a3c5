//! Values of operator curation (`POST /censor`, `agora admin`): what an operator can censor,
//! how strongly, and what a censorship did.
//!
//! Two strengths, as in the reference server (spec section 4.3), but both enforced here:
//! - [`CensorshipKind::DoNotRecommend`] keeps storage as it is; discovery routes (search,
//!   explore, trending, recommended profiles) leave the target out. Sync routes keep serving it.
//! - [`CensorshipKind::RefuseStorage`] removes what is stored of the target and refuses it at
//!   ingest from then on.

use std::fmt;

use agora_protocol::links::{Link, LinkError};
use agora_protocol::{Process, PublicKey};

/// How strongly a target is censored. `RefuseStorage` is the stronger and implies the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CensorshipKind {
    /// Stored and served as usual, never recommended by discovery routes.
    DoNotRecommend,
    /// Removed, and refused at ingest.
    RefuseStorage,
}

impl CensorshipKind {
    /// The name used on the wire (`censorship_type`) and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DoNotRecommend => "do_not_recommend",
            Self::RefuseStorage => "refuse_storage",
        }
    }

    /// Reads a wire or database name; `-` may stand for `_` (command-line spelling).
    pub fn parse(text: &str) -> Option<Self> {
        match text.replace('-', "_").as_str() {
            "do_not_recommend" => Some(Self::DoNotRecommend),
            "refuse_storage" => Some(Self::RefuseStorage),
            _ => None,
        }
    }
}

impl fmt::Display for CensorshipKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is censored: a whole system, or one event slot of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CensorTarget {
    System(PublicKey),
    Event {
        system: PublicKey,
        process: Process,
        logical_clock: u64,
    },
}

impl CensorTarget {
    /// The system the target belongs to.
    pub fn system(&self) -> &PublicKey {
        match self {
            Self::System(system) | Self::Event { system, .. } => system,
        }
    }

    /// The target a system or event link names, in any form [`Link::parse`] reads (what an
    /// operator pastes into `/censor` or `agora admin`). See [`CensorTarget::link_text`] for
    /// what of `text` counts; a link of another type is [`LinkError::UrlType`].
    pub fn from_link(text: &str) -> Result<Self, LinkError> {
        Link::parse(Self::link_text(text)).map(Self::from)
    }

    /// The part of `text` that is the link: without surrounding white space, and without a
    /// query string or fragment, which are not part of a link.
    pub fn link_text(text: &str) -> &str {
        let text = text.trim();
        text.split(['?', '#']).next().unwrap_or(text)
    }
}

impl From<Link> for CensorTarget {
    fn from(link: Link) -> Self {
        match link {
            Link::System { system, .. } => Self::System(system),
            Link::Event {
                system,
                process,
                logical_clock,
                ..
            } => Self::Event {
                system,
                process,
                logical_clock,
            },
        }
    }
}

/// One censorship in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Censorship {
    pub target: CensorTarget,
    pub kind: CensorshipKind,
    /// When the current kind was set, in Unix milliseconds.
    pub created_ms: u64,
}

/// What [`crate::Store::censor`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CensorOutcome {
    /// The kind in force now: the stronger of the requested and any earlier one.
    pub kind: CensorshipKind,
    /// Whether anything changed (false when the same or a stronger kind was already in force).
    pub changed: bool,
    /// Stored events removed by this call (refuse_storage only).
    pub events_removed: usize,
}

/// What a censorship request does, given the kind in force on its target: both engines record
/// and remove by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CensorPlan {
    /// The kind in force afterwards: the stronger of the requested and the earlier one.
    pub kind: CensorshipKind,
    /// Whether `kind` is recorded (a weaker or equal request changes nothing).
    pub changed: bool,
    /// Whether what is stored of the target is removed: under refuse_storage nothing of it
    /// stays (a system's handle and events, or the event), whether newly or already in force.
    pub removes: bool,
}

impl CensorPlan {
    pub(crate) fn new(previous: Option<CensorshipKind>, requested: CensorshipKind) -> Self {
        let kind = previous.map_or(requested, |previous| previous.max(requested));
        Self {
            kind,
            changed: previous.is_none_or(|previous| requested > previous),
            removes: kind == CensorshipKind::RefuseStorage,
        }
    }
}

#[cfg(test)]
mod tests {
    use agora_protocol::SecretKey;
    use agora_protocol::encoding::base64url_encode;
    use agora_protocol::links::URL_TYPE_DATA;
    use agora_protocol::wire;
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_link_names_its_target_whatever_surrounds_it() {
        let system = SecretKey::from_seed(&[3; 32]).public_key();
        let process = Process::from_bytes(&[4; 16]).expect("16 bytes");
        let system_link = Link::System {
            system,
            servers: vec!["http://a".to_owned()],
        }
        .to_url();
        let event_link = Link::Event {
            system,
            process,
            logical_clock: 9,
            servers: Vec::new(),
        }
        .to_url();
        let web = format!(
            " https://example.org/user/{}?ref=x#top\n",
            system_link.trim_start_matches("polycentric://")
        );
        assert_eq!(
            CensorTarget::from_link(&web).expect("system link"),
            CensorTarget::System(system)
        );
        assert_eq!(
            CensorTarget::from_link(&event_link).expect("event link"),
            CensorTarget::Event {
                system,
                process,
                logical_clock: 9,
            }
        );
        assert_eq!(CensorTarget::link_text("  ?only=query "), "");
    }

    #[test]
    fn a_link_of_another_type_is_named_by_its_type() {
        let info = wire::UrlInfo {
            url_type: URL_TYPE_DATA,
            body: Vec::new().into(),
        };
        let link = base64url_encode(&info.encode_to_vec());
        assert!(matches!(
            CensorTarget::from_link(&link),
            Err(LinkError::UrlType(URL_TYPE_DATA))
        ));
    }

    #[test]
    fn a_stronger_kind_replaces_a_weaker_and_refuse_storage_always_removes() {
        use CensorshipKind::{DoNotRecommend, RefuseStorage};
        let plan = |previous, requested| {
            let plan = CensorPlan::new(previous, requested);
            (plan.kind, plan.changed, plan.removes)
        };
        assert_eq!(plan(None, DoNotRecommend), (DoNotRecommend, true, false));
        assert_eq!(plan(None, RefuseStorage), (RefuseStorage, true, true));
        assert_eq!(
            plan(Some(DoNotRecommend), RefuseStorage),
            (RefuseStorage, true, true)
        );
        assert_eq!(
            plan(Some(RefuseStorage), DoNotRecommend),
            (RefuseStorage, false, true),
            "a weaker request changes nothing, and what was refused stays removed"
        );
        assert_eq!(
            plan(Some(DoNotRecommend), DoNotRecommend),
            (DoNotRecommend, false, false)
        );
    }
}
