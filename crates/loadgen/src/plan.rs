//! The workload as data: identities derived from the seed, and for each identity the ordered list
//! of actions it publishes. Pure and cheap (no signing), so a `read` run recomputes exactly which
//! identities and posts an earlier `ingest` run with the same seed and sizes stored.

use std::collections::HashSet;

use agora_protocol::{Pointer, Process, PublicKey, SecretKey};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

/// The first event time: 2023-11-14. Fixed, so the same seed signs the same bytes on every run
/// and a second `ingest` against the same server only sends duplicates.
pub const BASE_UNIX_MILLISECONDS: u64 = 1_700_000_000_000;
/// Time between two consecutive events of one identity.
const STEP_MILLISECONDS: u64 = 60_000;
/// Reply and opinion targets come half of the time from this many most recent posts, so a few
/// posts collect many references, as on a real network.
const RECENT_POSTS: usize = 2_000;
/// Topic names for topic posts (bytes references).
pub const TOPICS: &[&str] = &[
    "rust",
    "music",
    "news",
    "science",
    "sports",
    "art",
    "gaming",
    "politics",
    "books",
    "movies",
    "travel",
    "food",
    "photography",
    "programming",
    "linux",
    "space",
    "history",
    "climate",
    "finance",
    "health",
];

/// Domain tags so the identity and plan random streams never overlap.
const TAG_IDENTITY: u64 = 0x6964_656e_7469_7479;
const TAG_PLAN: u64 = 0x706c_616e;
const TAG_TEXT: u64 = 0x7465_7874;
const TAG_WORD: u64 = 0x776f_7264;
/// Letters of each post's made-up word.
const UNIQUE_WORD_LETTERS: usize = 10;

/// Sizes and seed of a workload. Two equal values give equal plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanConfig {
    pub seed: u64,
    pub identities: usize,
    pub events: usize,
}

/// One simulated account: one system with one process.
#[derive(Debug)]
pub struct Identity {
    pub secret: SecretKey,
    pub system: PublicKey,
    pub process: Process,
}

/// A post of the plan: the `step`-th event of `identity`, so its logical clock is `step + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PostId {
    pub identity: u32,
    pub step: u32,
}

/// What one event does. Targets are always events of earlier steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Username,
    Description,
    Post,
    TopicPost {
        topic: usize,
    },
    Reply {
        parent: PostId,
    },
    Follow {
        identity: u32,
    },
    Opinion {
        subject: PostId,
        like: bool,
    },
    /// A later opinion on a subject this identity already voted on, with the other value.
    Revote {
        subject: PostId,
        like: bool,
    },
    /// Deletes this identity's own event at `step`.
    Delete {
        step: u32,
    },
}

/// The kinds of [`Action`], for counting the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Username,
    Description,
    Post,
    TopicPost,
    Reply,
    Follow,
    Like,
    Dislike,
    Revote,
    Delete,
}

impl ActionKind {
    pub const ALL: [Self; 10] = [
        Self::Username,
        Self::Description,
        Self::Post,
        Self::TopicPost,
        Self::Reply,
        Self::Follow,
        Self::Like,
        Self::Dislike,
        Self::Revote,
        Self::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Description => "description",
            Self::Post => "post",
            Self::TopicPost => "topic_post",
            Self::Reply => "reply",
            Self::Follow => "follow",
            Self::Like => "like",
            Self::Dislike => "dislike",
            Self::Revote => "revote",
            Self::Delete => "delete",
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Username => ActionKind::Username,
            Self::Description => ActionKind::Description,
            Self::Post => ActionKind::Post,
            Self::TopicPost { .. } => ActionKind::TopicPost,
            Self::Reply { .. } => ActionKind::Reply,
            Self::Follow { .. } => ActionKind::Follow,
            Self::Opinion { like: true, .. } => ActionKind::Like,
            Self::Opinion { like: false, .. } => ActionKind::Dislike,
            Self::Revote { .. } => ActionKind::Revote,
            Self::Delete { .. } => ActionKind::Delete,
        }
    }
}

/// The whole workload.
#[derive(Debug)]
pub struct Plan {
    pub config: PlanConfig,
    pub identities: Vec<Identity>,
    /// Per identity, its events in publishing order: `actions[i][step]`.
    pub actions: Vec<Vec<Action>>,
    /// Posts, topic posts and replies that no delete removes: the subjects reads ask about.
    pub live_posts: Vec<PostId>,
}

impl Plan {
    pub fn new(config: PlanConfig) -> Self {
        let identities = (0..config.identities)
            .map(|index| derive_identity(config.seed, index))
            .collect();
        let counts = events_per_identity(config);
        let actions = Planner::new(config, &counts).run();
        let live_posts = live_posts(&actions);
        Self {
            config,
            identities,
            actions,
            live_posts,
        }
    }

    pub fn pointer(&self, post: PostId) -> Pointer {
        let identity = &self.identities[post.identity as usize];
        Pointer {
            system: identity.system,
            process: identity.process,
            logical_clock: u64::from(post.step) + 1,
            digest: None,
        }
    }

    /// How many events of each kind the plan holds, in [`ActionKind::ALL`] order.
    pub fn mix(&self) -> Vec<(ActionKind, usize)> {
        ActionKind::ALL
            .iter()
            .map(|&kind| {
                let count = self
                    .actions
                    .iter()
                    .flatten()
                    .filter(|action| action.kind() == kind)
                    .count();
                (kind, count)
            })
            .collect()
    }

    pub fn rounds(&self) -> usize {
        self.actions.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// The time of an identity's `step`-th event: strictly increasing per identity, so a re-vote is
/// always newer than the vote it replaces.
pub fn unix_milliseconds(identity: usize, step: usize) -> u64 {
    BASE_UNIX_MILLISECONDS + step as u64 * STEP_MILLISECONDS + (identity as u64 * 37) % 60_000
}

/// A random stream for one identity's `step`-th event text, independent of signing order.
pub fn text_rng(seed: u64, identity: usize, step: usize) -> StdRng {
    StdRng::seed_from_u64(mix(&[seed, TAG_TEXT, identity as u64, step as u64]))
}

/// A made-up word that only the `step`-th event of `identity` holds, when it is a post or a
/// topic post ([`has_unique_word`]): a search for it has exactly one right answer.
pub fn unique_word(seed: u64, identity: usize, step: usize) -> String {
    let mut rng = StdRng::seed_from_u64(mix(&[seed, TAG_WORD, identity as u64, step as u64]));
    (0..UNIQUE_WORD_LETTERS)
        .map(|_| char::from(b'a' + rng.gen_range(0..26_u8)))
        .collect()
}

/// Whether an action's post text ends with its [`unique_word`] (replies do not carry one).
pub fn has_unique_word(action: Action) -> bool {
    matches!(action, Action::Post | Action::TopicPost { .. })
}

/// A random stream of its own for one use of the seed (`tag` names the use).
pub fn seeded_rng(seed: u64, tag: u64) -> StdRng {
    StdRng::seed_from_u64(mix(&[seed, tag]))
}

fn derive_identity(seed: u64, index: usize) -> Identity {
    let mut rng = StdRng::seed_from_u64(mix(&[seed, TAG_IDENTITY, index as u64]));
    let secret = SecretKey::from_seed(&rng.r#gen::<[u8; 32]>());
    let process =
        Process::from_bytes(&rng.r#gen::<[u8; 16]>()).unwrap_or_else(|_| unreachable!("16 bytes"));
    Identity {
        system: secret.public_key(),
        secret,
        process,
    }
}

/// SplitMix64 over the parts, a well-mixed 64-bit seed.
fn mix(parts: &[u64]) -> u64 {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for &part in parts {
        state = (state ^ part).wrapping_add(0x9e37_79b9_7f4a_7c15);
        state = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        state = (state ^ (state >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        state ^= state >> 31;
    }
    state
}

/// Spreads the events evenly: every identity gets `events / identities`, the first ones one more.
fn events_per_identity(config: PlanConfig) -> Vec<usize> {
    let identities = config.identities.max(1);
    let base = config.events / identities;
    let extra = config.events % identities;
    (0..config.identities)
        .map(|index| base + usize::from(index < extra))
        .collect()
}

/// Every event some delete of the plan removes.
pub fn deleted(actions: &[Vec<Action>]) -> HashSet<PostId> {
    actions
        .iter()
        .enumerate()
        .flat_map(|(identity, list)| {
            list.iter().filter_map(move |action| match action {
                Action::Delete { step } => Some(PostId {
                    identity: identity as u32,
                    step: *step,
                }),
                _ => None,
            })
        })
        .collect()
}

fn live_posts(actions: &[Vec<Action>]) -> Vec<PostId> {
    let deleted = deleted(actions);
    let mut posts = Vec::new();
    for (identity, list) in actions.iter().enumerate() {
        for (step, action) in list.iter().enumerate() {
            let post = PostId {
                identity: identity as u32,
                step: step as u32,
            };
            let is_post = matches!(
                action,
                Action::Post | Action::TopicPost { .. } | Action::Reply { .. }
            );
            if is_post && !deleted.contains(&post) {
                posts.push(post);
            }
        }
    }
    posts
}

/// Weights of the actions after the two profile events, in percent.
const WEIGHTS: [(ActionKind, u32); 9] = [
    (ActionKind::Post, 42),
    (ActionKind::Reply, 16),
    (ActionKind::TopicPost, 8),
    (ActionKind::Follow, 5),
    (ActionKind::Like, 16),
    (ActionKind::Dislike, 4),
    (ActionKind::Revote, 4),
    (ActionKind::Delete, 3),
    (ActionKind::Description, 2),
];

/// Builds the actions round by round (step 0 of every identity, then step 1, ...), so targets
/// are always events of earlier rounds: signing can then run one round at a time in parallel.
struct Planner<'a> {
    config: PlanConfig,
    counts: &'a [usize],
    rng: StdRng,
    /// Every post, topic post and reply of the rounds done so far: reply and opinion targets.
    posts: Vec<PostId>,
    /// Per identity, its own posts not yet deleted (by step).
    own_posts: Vec<Vec<u32>>,
    /// Per identity, the subjects it voted on and its current value.
    votes: Vec<Vec<(PostId, bool)>>,
    actions: Vec<Vec<Action>>,
}

impl<'a> Planner<'a> {
    fn new(config: PlanConfig, counts: &'a [usize]) -> Self {
        Self {
            config,
            counts,
            rng: StdRng::seed_from_u64(mix(&[config.seed, TAG_PLAN])),
            posts: Vec::new(),
            own_posts: vec![Vec::new(); counts.len()],
            votes: vec![Vec::new(); counts.len()],
            actions: counts
                .iter()
                .map(|&count| Vec::with_capacity(count))
                .collect(),
        }
    }

    fn run(mut self) -> Vec<Vec<Action>> {
        let rounds = self.counts.iter().copied().max().unwrap_or(0);
        for step in 0..rounds {
            let visible = self.posts.len();
            let mut new_posts = Vec::new();
            for identity in 0..self.counts.len() {
                if self.counts[identity] <= step {
                    continue;
                }
                let action = match step {
                    0 => Action::Username,
                    1 => Action::Description,
                    _ => self.choose(identity, visible),
                };
                if matches!(
                    action,
                    Action::Post | Action::TopicPost { .. } | Action::Reply { .. }
                ) {
                    let post = PostId {
                        identity: identity as u32,
                        step: step as u32,
                    };
                    new_posts.push(post);
                    self.own_posts[identity].push(step as u32);
                }
                self.actions[identity].push(action);
            }
            self.posts.extend(new_posts);
        }
        self.actions
    }

    /// Picks the next action of `identity`, falling back to a plain post when the chosen kind
    /// has no possible target yet.
    fn choose(&mut self, identity: usize, visible: usize) -> Action {
        let kind = self.weighted_kind();
        self.action_of_kind(kind, identity, visible)
            .unwrap_or(Action::Post)
    }

    fn weighted_kind(&mut self) -> ActionKind {
        let total: u32 = WEIGHTS.iter().map(|(_, weight)| weight).sum();
        let mut roll = self.rng.gen_range(0..total);
        for (kind, weight) in WEIGHTS {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        ActionKind::Post
    }

    fn action_of_kind(
        &mut self,
        kind: ActionKind,
        identity: usize,
        visible: usize,
    ) -> Option<Action> {
        match kind {
            ActionKind::Post | ActionKind::Username => Some(Action::Post),
            ActionKind::Description => Some(Action::Description),
            ActionKind::TopicPost => Some(Action::TopicPost {
                topic: self.rng.gen_range(0..TOPICS.len()),
            }),
            ActionKind::Reply => Some(Action::Reply {
                parent: self.target(identity, visible)?,
            }),
            ActionKind::Follow => self.follow(identity),
            ActionKind::Like | ActionKind::Dislike => {
                let subject = self.target(identity, visible)?;
                let like = kind == ActionKind::Like;
                self.votes[identity].push((subject, like));
                Some(Action::Opinion { subject, like })
            }
            ActionKind::Revote => self.revote(identity),
            ActionKind::Delete => self.delete(identity),
        }
    }

    /// Another identity's post from an earlier round, favouring recent ones.
    fn target(&mut self, identity: usize, visible: usize) -> Option<PostId> {
        if visible == 0 {
            return None;
        }
        for _ in 0..4 {
            let index = if self.rng.gen_bool(0.5) {
                visible - 1 - self.rng.gen_range(0..visible.min(RECENT_POSTS))
            } else {
                self.rng.gen_range(0..visible)
            };
            let post = self.posts[index];
            if post.identity as usize != identity {
                return Some(post);
            }
        }
        None
    }

    fn follow(&mut self, identity: usize) -> Option<Action> {
        if self.config.identities < 2 {
            return None;
        }
        let other = loop {
            let other = self.rng.gen_range(0..self.config.identities);
            if other != identity {
                break other;
            }
        };
        Some(Action::Follow {
            identity: other as u32,
        })
    }

    fn revote(&mut self, identity: usize) -> Option<Action> {
        let votes = &mut self.votes[identity];
        if votes.is_empty() {
            return None;
        }
        let index = self.rng.gen_range(0..votes.len());
        let (subject, like) = &mut votes[index];
        *like = !*like;
        Some(Action::Revote {
            subject: *subject,
            like: *like,
        })
    }

    fn delete(&mut self, identity: usize) -> Option<Action> {
        let own = &mut self.own_posts[identity];
        if own.is_empty() {
            return None;
        }
        let index = self.rng.gen_range(0..own.len());
        Some(Action::Delete {
            step: own.swap_remove(index),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> PlanConfig {
        PlanConfig {
            seed,
            identities: 200,
            events: 10_000,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_identities_and_pointers() {
        let first = Plan::new(config(1));
        let second = Plan::new(config(1));
        let systems = |plan: &Plan| -> Vec<(PublicKey, Process)> {
            plan.identities
                .iter()
                .map(|identity| (identity.system, identity.process))
                .collect()
        };
        assert_eq!(systems(&first), systems(&second));
        assert_eq!(first.actions, second.actions);
        let pointers = |plan: &Plan| -> Vec<Pointer> {
            plan.live_posts
                .iter()
                .map(|&post| plan.pointer(post))
                .collect()
        };
        assert_eq!(pointers(&first), pointers(&second));
        assert!(!first.live_posts.is_empty());
    }

    /// A `read` run must find what an `ingest` run of another build stored: if a dependency
    /// upgrade changes the random streams, this fails instead of the reads going empty.
    #[test]
    fn identities_and_actions_are_pinned_across_builds() {
        let plan = Plan::new(config(1));
        assert_eq!(
            plan.identities[0].system.to_query_param(),
            "CAESIK-2G8OXlLIew2j7el48Rf9eLnDnvlIaeK7SejZZ0mjW"
        );
        assert_eq!(
            plan.actions[0][2..5],
            [
                Action::Post,
                Action::Opinion {
                    subject: PostId {
                        identity: 43,
                        step: 2
                    },
                    like: true
                },
                Action::Reply {
                    parent: PostId {
                        identity: 145,
                        step: 3
                    }
                },
            ]
        );
    }

    #[test]
    fn unique_words_are_fixed_per_post_and_differ_between_posts() {
        let word = unique_word(1, 2, 3);
        assert_eq!(word, unique_word(1, 2, 3));
        assert_eq!(word.len(), UNIQUE_WORD_LETTERS);
        assert!(word.bytes().all(|byte| byte.is_ascii_lowercase()));
        let words: HashSet<String> = (0..1_000).map(|step| unique_word(1, 2, step)).collect();
        assert_eq!(words.len(), 1_000);
        assert_ne!(word, unique_word(2, 2, 3));
    }

    #[test]
    fn another_seed_gives_other_identities_and_actions() {
        let first = Plan::new(config(1));
        let other = Plan::new(config(2));
        assert_ne!(first.identities[0].system, other.identities[0].system);
        assert_ne!(first.identities[0].process, other.identities[0].process);
        assert_ne!(first.actions, other.actions);
    }

    #[test]
    fn the_mix_holds_every_kind_and_the_requested_total() {
        let plan = Plan::new(config(1));
        let mix = plan.mix();
        assert_eq!(mix.iter().map(|(_, count)| count).sum::<usize>(), 10_000);
        for (kind, count) in &mix {
            assert!(*count > 0, "no {} in the mix: {mix:?}", kind.name());
        }
        let posts = mix
            .iter()
            .filter(|(kind, _)| *kind == ActionKind::Post)
            .map(|(_, count)| *count)
            .sum::<usize>();
        assert!(mix.iter().all(|(_, count)| *count <= posts), "{mix:?}");
    }

    #[test]
    fn targets_are_earlier_events_of_others_and_deletes_hit_own_posts() {
        let plan = Plan::new(config(3));
        for (identity, actions) in plan.actions.iter().enumerate() {
            for (step, action) in actions.iter().enumerate() {
                match action {
                    Action::Reply { parent: target }
                    | Action::Opinion {
                        subject: target, ..
                    }
                    | Action::Revote {
                        subject: target, ..
                    } => {
                        assert_ne!(target.identity as usize, identity);
                        assert!((target.step as usize) < step);
                        let kind = plan.actions[target.identity as usize][target.step as usize];
                        assert!(matches!(
                            kind,
                            Action::Post | Action::TopicPost { .. } | Action::Reply { .. }
                        ));
                    }
                    Action::Delete { step: target } => {
                        assert!((*target as usize) < step);
                        assert!(matches!(
                            actions[*target as usize],
                            Action::Post | Action::TopicPost { .. } | Action::Reply { .. }
                        ));
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn events_spread_evenly_and_profiles_come_first() {
        let plan = Plan::new(PlanConfig {
            seed: 1,
            identities: 3,
            events: 10,
        });
        let lengths: Vec<usize> = plan.actions.iter().map(Vec::len).collect();
        assert_eq!(lengths, vec![4, 3, 3]);
        for actions in &plan.actions {
            assert_eq!(actions[..2], [Action::Username, Action::Description]);
        }
    }
}
