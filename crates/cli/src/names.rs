//! What a person may type to name someone or a post, and how each form is resolved.
//!
//! An identity: a `polycentric://` link (or a web address ending in one), a handle (`@alice`,
//! asked of your servers), its key as `agora` prints it (43 characters; the official clients'
//! base64 form also works), or the first 8 characters of a key this home already knows.
//!
//! A post or other event: its link, or the short form `agora` prints, `KEY/CLOCK` (the key
//! whole, or its first 8 characters when the event is in the local store).

use agora_client::{Client, Gathered, HandleHolder};
use agora_protocol::encoding::base64url_decode;
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey};

use crate::output::{BadInput, NoServerAnswered, bad_input};

/// The forms an identity argument may take, for error messages.
const IDENTITY_FORMS: &str = "a polycentric:// link (`agora link` prints one), a @handle, \
                              a key as `agora whoami` prints it, or its first 8 characters";

/// The forms an event argument may take, for error messages.
const EVENT_FORMS: &str = "an event link or its short form KEY/CLOCK, as `agora post`, \
                           `feed` and `show` print them";

/// A named identity: its key (a device's key stands for itself here; callers map it to the
/// identity) and the servers the name pointed at.
pub(crate) struct Named {
    pub system: PublicKey,
    pub hints: Vec<String>,
}

/// Reads a link, failing with exit status 2 when it is not one. An account backup link is
/// refused without being echoed: it holds a secret key.
pub(crate) fn parse_link(text: &str) -> anyhow::Result<Link> {
    if looks_like_export(text) {
        bad_input!(
            "that is an account backup link, which holds a secret key: never paste it where \
             another link is asked for (`agora import` takes it)"
        );
    }
    match Link::parse(text) {
        Ok(link) => Ok(link),
        Err(error) => bad_input!(
            "cannot read link {text:?}: {error}; expected a polycentric:// link, as `agora link` \
             or `agora post --long` print"
        ),
    }
}

/// Resolves an identity argument in any of its forms.
pub(crate) async fn identity(client: &Client, text: &str) -> anyhow::Result<Named> {
    let text = text.trim();
    if text.contains("://") {
        let (system, hints) = match parse_link(text)? {
            Link::System { system, servers }
            | Link::Event {
                system, servers, ..
            } => (system, servers),
        };
        return Ok(Named { system, hints });
    }
    if let Some(handle) = text.strip_prefix('@') {
        return by_handle(client, handle).await;
    }
    if let Ok(system) = PublicKey::parse_text(text)
        && !is_abbreviation(text)
    {
        return Ok(Named {
            system,
            hints: Vec::new(),
        });
    }
    if is_abbreviation(text) {
        let system = by_abbreviation(client, text).await?;
        return Ok(Named {
            system,
            hints: Vec::new(),
        });
    }
    bad_input!("cannot read {text:?} as an identity: expected {IDENTITY_FORMS}")
}

/// Whether `text` names an event (an event link or `KEY/CLOCK`) rather than someone.
pub(crate) fn names_event(text: &str) -> bool {
    let text = text.trim();
    if text.contains("://") {
        return matches!(Link::parse(text), Ok(Link::Event { .. }));
    }
    text.rsplit_once('/')
        .is_some_and(|(_, clock)| clock.parse::<u64>().is_ok())
}

/// Resolves an event argument to its full pointer (with digest): from the local store, or
/// pulled from the link's servers and the author's known servers when not held yet.
pub(crate) async fn event(client: &Client, text: &str) -> anyhow::Result<Pointer> {
    let text = text.trim();
    let (system, process, logical_clock, hints) = if text.contains("://") {
        match parse_link(text)? {
            Link::Event {
                system,
                process,
                logical_clock,
                servers,
            } => (system, Some(process), logical_clock, servers),
            Link::System { .. } => {
                bad_input!("{text:?} names a person, not a post: this needs {EVENT_FORMS}")
            }
        }
    } else {
        let Some((key, clock)) = text.rsplit_once('/') else {
            bad_input!("cannot read {text:?} as an event: expected {EVENT_FORMS}");
        };
        let Ok(clock) = clock.parse::<u64>() else {
            bad_input!("cannot read {text:?} as an event: {clock:?} is not a number");
        };
        let system = if is_abbreviation(key) {
            by_abbreviation(client, key).await?
        } else {
            match PublicKey::parse_text(key) {
                Ok(system) => system,
                Err(error) => bad_input!(
                    "cannot read {text:?} as an event: {key:?} is not a key ({error}); \
                     expected {EVENT_FORMS}"
                ),
            }
        };
        (system, None, clock, Vec::new())
    };
    if let Some(pointer) = find_local(client, system, process, logical_clock, text).await? {
        return Ok(pointer);
    }
    let gathered = client.pull(system, &hints).await?;
    if let Some(pointer) = find_local(client, system, process, logical_clock, text).await? {
        return Ok(pointer);
    }
    for slot in slots(client, system, process, logical_clock).await? {
        if client.is_deleted(&slot).await? {
            bad_input!("{text} was deleted by its author");
        }
    }
    if gathered.answered.is_empty() && !gathered.failed.is_empty() {
        return Err(NoServerAnswered(format!(
            "event {text} is not in the local store and no server answered: {}",
            failure_list(&gathered)
        ))
        .into());
    }
    bad_input!(
        "event {text} is not in the local store and no server had it (asked: {}); check it or \
         try again later",
        if gathered.answered.is_empty() {
            "none".to_owned()
        } else {
            gathered.answered.join(", ")
        }
    )
}

fn failure_list<T>(gathered: &Gathered<T>) -> String {
    gathered
        .failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The slots an event argument may name: `logical_clock` in `process`, or in every process of
/// `system` the local store knows when the argument named none.
async fn slots(
    client: &Client,
    system: PublicKey,
    process: Option<agora_protocol::Process>,
    logical_clock: u64,
) -> anyhow::Result<Vec<Pointer>> {
    let processes = match process {
        Some(process) => vec![process],
        None => client.processes_of(system).await?,
    };
    Ok(processes
        .into_iter()
        .map(|process| Pointer {
            system,
            process,
            logical_clock,
            digest: None,
        })
        .collect())
}

/// The stored event at `system`'s `logical_clock` (in `process`, or in whichever process has
/// one); a clock two processes share is an error listing both.
async fn find_local(
    client: &Client,
    system: PublicKey,
    process: Option<agora_protocol::Process>,
    logical_clock: u64,
    text: &str,
) -> anyhow::Result<Option<Pointer>> {
    let mut found = Vec::new();
    for slot in slots(client, system, process, logical_clock).await? {
        if let Some(event) = client.load(&slot).await? {
            found.push(event.pointer());
        }
    }
    if found.len() > 1 {
        bad_input!(
            "{text} is ambiguous: {} processes of that key have an event at clock \
             {logical_clock}; use the event's link (`--long` prints it)",
            found.len()
        );
    }
    Ok(found.pop())
}

/// Whether `text` is shaped like the first characters `agora` prints of a key.
fn is_abbreviation(text: &str) -> bool {
    text.len() == PublicKey::ABBREVIATION_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The one identity this home knows whose key starts with `abbreviation`.
async fn by_abbreviation(client: &Client, abbreviation: &str) -> anyhow::Result<PublicKey> {
    let Ok(prefix) = base64url_decode(abbreviation) else {
        bad_input!("{abbreviation:?} is not the start of a key");
    };
    let systems = client.store().systems_with_prefix(prefix, 3).await?;
    match systems.as_slice() {
        [system] => Ok(*system),
        [] => bad_input!(
            "no identity this home knows has a key starting with {abbreviation}: give the whole \
             key, a link or a @handle"
        ),
        several => bad_input!(
            "{abbreviation} is the start of {}{} keys this home knows: give the whole key",
            several.len(),
            if several.len() == 3 { " or more" } else { "" }
        ),
    }
}

/// Asks every server of this identity which system holds `handle`. Proven bindings win; when
/// servers disagree the choice is said on stderr.
async fn by_handle(client: &Client, handle: &str) -> anyhow::Result<Named> {
    if handle.is_empty() {
        bad_input!("`@` needs a handle after it, e.g. @alice");
    }
    let servers = client.servers().await?;
    if servers.is_empty() {
        bad_input!(
            "cannot resolve @{handle}: this home has no servers to ask; add one with `agora \
             server add URL`, or give a link or key instead"
        );
    }
    let gathered = client.resolve_handle(handle, &servers).await;
    let answers: Vec<(&String, HandleHolder)> = gathered
        .value
        .iter()
        .filter_map(|(server, holder)| holder.map(|holder| (server, holder)))
        .collect();
    if answers.is_empty() {
        if gathered.answered.is_empty() {
            return Err(NoServerAnswered(format!(
                "cannot resolve @{handle}: no server answered ({})",
                failure_list(&gathered)
            ))
            .into());
        }
        return Err(BadInput(format!(
            "no server of yours knows the handle @{handle} (asked: {})",
            gathered.answered.join(", ")
        ))
        .into());
    }
    let chosen = choose_holder(&answers);
    let hints: Vec<String> = answers
        .iter()
        .filter(|(_, holder)| holder.system == chosen)
        .map(|(server, _)| (*server).clone())
        .collect();
    if answers.iter().any(|(_, holder)| holder.system != chosen) {
        let views: Vec<String> = answers
            .iter()
            .map(|(server, holder)| {
                format!(
                    "{server} says {}{}",
                    holder.system,
                    if holder.proven { " (proven)" } else { "" }
                )
            })
            .collect();
        eprintln!(
            "warning: your servers disagree about @{handle}: {}; using {chosen}",
            views.join(", ")
        );
    }
    Ok(Named {
        system: chosen,
        hints,
    })
}

/// The holder proven on most servers, else the one most servers name (the first on a tie).
fn choose_holder(answers: &[(&String, HandleHolder)]) -> PublicKey {
    let mut tally: Vec<(PublicKey, usize, usize)> = Vec::new();
    for (_, holder) in answers {
        match tally
            .iter_mut()
            .find(|(system, ..)| *system == holder.system)
        {
            Some((_, proven, named)) => {
                *proven += usize::from(holder.proven);
                *named += 1;
            }
            None => tally.push((holder.system, usize::from(holder.proven), 1)),
        }
    }
    let mut best = tally[0];
    for entry in &tally[1..] {
        if (entry.1, entry.2) > (best.1, best.2) {
            best = *entry;
        }
    }
    best.0
}

/// Whether a link is an account backup (export bundle) link.
fn looks_like_export(text: &str) -> bool {
    agora_client::Bundle::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_protocol::SecretKey;

    fn holder(seed: u8, proven: bool) -> HandleHolder {
        HandleHolder {
            system: SecretKey::from_seed(&[seed; 32]).public_key(),
            proven,
        }
    }

    #[test]
    fn a_proven_binding_beats_a_majority_of_unproven_ones() {
        let (a, b, c) = ("a".to_owned(), "b".to_owned(), "c".to_owned());
        let answers = [
            (&a, holder(1, false)),
            (&b, holder(1, false)),
            (&c, holder(2, true)),
        ];
        assert_eq!(choose_holder(&answers), holder(2, true).system);
        let unproven = [
            (&a, holder(1, false)),
            (&b, holder(2, false)),
            (&c, holder(2, false)),
        ];
        assert_eq!(choose_holder(&unproven), holder(2, false).system);
    }

    #[test]
    fn abbreviations_are_eight_key_characters() {
        let key = SecretKey::from_seed(&[9; 32]).public_key();
        assert!(is_abbreviation(&key.abbreviation()));
        assert!(!is_abbreviation(&key.to_string()));
        assert!(!is_abbreviation("alice"));
    }
}
