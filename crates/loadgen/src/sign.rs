//! Signing the plan ahead of the clock: every event of every identity, on all cores.
//!
//! Replies and opinions point at other identities' posts *with* their digest, as official clients
//! do. Targets are always of earlier steps, so signing runs one step (round) at a time: all
//! identities' `step`-th events in parallel, then their digests become visible to later rounds.

use std::collections::HashMap;

use agora_protocol::author::Author;
use agora_protocol::content::{self, opinion};
use agora_protocol::{Digest, EventError, Pointer, SecretKey, VerifiedEvent, wire};
use rand::Rng as _;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::plan::{self, Action, Plan, PostId};

/// Words for post text.
pub(crate) const WORDS: &[&str] = &[
    "the",
    "a",
    "server",
    "network",
    "post",
    "today",
    "really",
    "think",
    "about",
    "new",
    "open",
    "protocol",
    "people",
    "good",
    "bad",
    "why",
    "how",
    "love",
    "code",
    "music",
    "world",
    "time",
    "just",
    "more",
    "less",
    "with",
    "without",
    "federation",
    "keys",
    "signed",
    "event",
    "feed",
    "reply",
    "topic",
    "follow",
    "like",
    "weekend",
    "coffee",
    "rain",
    "sun",
    "city",
    "book",
    "movie",
    "game",
    "build",
    "release",
    "bug",
    "fix",
    "fast",
    "slow",
    "question",
    "answer",
];

/// Signs every event of the plan. Returns, per identity, its events in publishing order.
pub fn sign_plan(plan: &Plan) -> Result<Vec<Vec<wire::SignedEvent>>, EventError> {
    let mut signers: Vec<Signer> = plan
        .identities
        .iter()
        .zip(&plan.actions)
        .map(|(identity, actions)| Signer::new(identity, actions))
        .collect();
    // Digests of every event signed so far, per identity and step: the targets' digests.
    let mut digests: Vec<Vec<Digest>> = plan
        .actions
        .iter()
        .map(|actions| Vec::with_capacity(actions.len()))
        .collect();
    for step in 0..plan.rounds() {
        let round: Vec<Option<Digest>> = signers
            .par_iter_mut()
            .enumerate()
            .map(|(identity, signer)| signer.sign_step(plan, &digests, identity, step))
            .collect::<Result<_, _>>()?;
        for (identity, digest) in round.into_iter().enumerate() {
            if let Some(digest) = digest {
                digests[identity].push(digest);
            }
        }
    }
    Ok(signers.into_iter().map(|signer| signer.signed).collect())
}

/// One identity's author, its signed events, and the events its later deletes will need.
struct Signer {
    author: Author,
    signed: Vec<wire::SignedEvent>,
    /// Steps that a later delete of this identity targets; their events are kept until then.
    delete_targets: HashMap<u32, Option<VerifiedEvent>>,
}

impl Signer {
    fn new(identity: &plan::Identity, actions: &[Action]) -> Self {
        let delete_targets = actions
            .iter()
            .filter_map(|action| match action {
                Action::Delete { step } => Some((*step, None)),
                _ => None,
            })
            .collect();
        Self {
            author: Author::new(
                SecretKey::from_seed(identity.secret.seed()),
                identity.process,
            ),
            signed: Vec::with_capacity(actions.len()),
            delete_targets,
        }
    }

    /// Signs this identity's `step`-th event, if it has one, and returns its digest.
    fn sign_step(
        &mut self,
        plan: &Plan,
        digests: &[Vec<Digest>],
        identity: usize,
        step: usize,
    ) -> Result<Option<Digest>, EventError> {
        let Some(action) = plan.actions[identity].get(step) else {
            return Ok(None);
        };
        let event = self.publish(plan, digests, identity, step, *action)?;
        let digest = event.digest();
        self.signed.push(event.to_signed());
        if let Some(slot) = self.delete_targets.get_mut(&(step as u32)) {
            *slot = Some(event);
        }
        Ok(Some(digest))
    }

    fn publish(
        &mut self,
        plan: &Plan,
        digests: &[Vec<Digest>],
        identity: usize,
        step: usize,
        action: Action,
    ) -> Result<VerifiedEvent, EventError> {
        let time = plan::unix_milliseconds(identity, step);
        let mut rng = plan::text_rng(plan.config.seed, identity, step);
        let unique = plan::unique_word(plan.config.seed, identity, step);
        let searchable_text = |rng: &mut StdRng| format!("{} {unique}", post_text(rng));
        let target = |post: PostId| Pointer {
            digest: Some(digests[post.identity as usize][post.step as usize]),
            ..plan.pointer(post)
        };
        match action {
            Action::Username => {
                let name = format!("loadgen-{}-{identity}", plan.config.seed);
                self.author
                    .set_element(content::USERNAME, name.as_bytes(), time)
            }
            Action::Description => {
                let text = sentence(&mut rng, 4, 20);
                self.author
                    .set_element(content::DESCRIPTION, text.as_bytes(), time)
            }
            Action::Post => self.author.post(&searchable_text(&mut rng), time),
            Action::TopicPost { topic } => {
                self.author
                    .topic_post(&searchable_text(&mut rng), plan::TOPICS[topic], time)
            }
            Action::Reply { parent } => {
                self.author
                    .reply(&sentence(&mut rng, 2, 30), &target(parent), time)
            }
            Action::Follow { identity: other } => {
                let system = plan.identities[other as usize].system;
                self.author.follow(&system, true, time)
            }
            Action::Opinion { subject, like } | Action::Revote { subject, like } => {
                let value = if like {
                    opinion::LIKE
                } else {
                    opinion::DISLIKE
                };
                self.author.opinion(&target(subject), value, time)
            }
            Action::Delete { step: target_step } => {
                let target = self
                    .delete_targets
                    .remove(&target_step)
                    .flatten()
                    .unwrap_or_else(|| unreachable!("the plan deletes only earlier own posts"));
                self.author.delete(&target, time)
            }
        }
    }
}

/// Mostly short posts, some long ones.
fn post_text(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.02) {
        sentence(rng, 150, 300)
    } else {
        sentence(rng, 3, 40)
    }
}

fn sentence(rng: &mut StdRng, words_min: usize, words_max: usize) -> String {
    let count = rng.gen_range(words_min..=words_max);
    let mut text = String::with_capacity(count * 7);
    for index in 0..count {
        if index > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    text
}

#[cfg(test)]
mod tests {
    use agora_protocol::Reference;

    use super::*;
    use crate::plan::PlanConfig;

    #[test]
    fn signed_events_match_the_plan_pointers_and_targets() {
        let plan = Plan::new(PlanConfig {
            seed: 9,
            identities: 20,
            events: 600,
        });
        let signed = sign_plan(&plan).expect("sign");
        let verified: Vec<Vec<VerifiedEvent>> = signed
            .iter()
            .map(|events| {
                events
                    .iter()
                    .map(|event| VerifiedEvent::verify(event).expect("verifies"))
                    .collect()
            })
            .collect();
        for (identity, events) in verified.iter().enumerate() {
            assert_eq!(events.len(), plan.actions[identity].len());
            for (step, event) in events.iter().enumerate() {
                let post = PostId {
                    identity: identity as u32,
                    step: step as u32,
                };
                assert_eq!(
                    Pointer {
                        digest: None,
                        ..event.pointer()
                    },
                    plan.pointer(post)
                );
                check_event(&verified, plan.actions[identity][step], event);
            }
        }
    }

    fn check_event(verified: &[Vec<VerifiedEvent>], action: Action, event: &VerifiedEvent) {
        let expected_type = match action {
            Action::Username => content::USERNAME,
            Action::Description => content::DESCRIPTION,
            Action::Post | Action::TopicPost { .. } | Action::Reply { .. } => content::POST,
            Action::Follow { .. } => content::FOLLOW,
            Action::Opinion { .. } | Action::Revote { .. } => content::OPINION,
            Action::Delete { .. } => content::DELETE,
        };
        assert_eq!(event.content_type(), expected_type);
        let target = match action {
            Action::Reply { parent } => parent,
            Action::Opinion { subject, .. } | Action::Revote { subject, .. } => subject,
            Action::Delete { step } => {
                let body = event.delete_body().expect("body").expect("a delete");
                assert_eq!(u64::from(step) + 1, body.logical_clock);
                return;
            }
            _ => return,
        };
        let expected = verified[target.identity as usize][target.step as usize].pointer();
        assert_eq!(event.references(), &[Reference::Pointer(expected)]);
        assert!(expected.digest.is_some());
    }
}
