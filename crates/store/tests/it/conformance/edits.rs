//! Post edits (docs/protocol.md, "Edits"): only the post's key edits it, a deleted post stays
//! deleted, every version is kept in edit order, and search follows the latest version as
//! edits come, go, or arrive before their post.

use agora_protocol::VerifiedEvent;
use agora_protocol::edits::edit_draft;
use agora_store::{IngestOutcome, SearchKind, SearchQuery, Store};

use super::support::*;

/// The slots (process, clock) of the posts a search for `word` finds.
async fn found<S: Store>(store: &S, word: &str) -> Vec<Slot> {
    let page = store
        .search(SearchQuery {
            text: word.to_owned(),
            kind: SearchKind::Messages,
            cursor: None,
            limit: 10,
        })
        .await
        .expect("search");
    slots(&page.events)
}

fn rejected(outcomes: &[IngestOutcome], reason: &str) -> bool {
    matches!(outcomes.first(), Some(IngestOutcome::Rejected(text)) if text.to_string().contains(reason))
}

pub async fn edits_follow_their_rules_and_search_shows_the_latest<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("a walrus story", 100).expect("post");
    ingest_new(&store, [&post]).await;
    let first = alice
        .publish(edit_draft(&post.pointer(), "a narwhal story"), 200)
        .expect("edit");
    ingest_new(&store, [&first]).await;
    assert_eq!(found(&store, "narwhal").await, [(1, 1)]);
    assert!(
        found(&store, "walrus").await.is_empty(),
        "the old text is not searched"
    );

    let second = alice
        .publish(edit_draft(&post.pointer(), "a beluga story"), 300)
        .expect("edit");
    ingest_new(&store, [&second]).await;
    let history = store.edits(post.slot_key()).await.expect("edits");
    assert_eq!(slots(&history), [(1, 2), (1, 3)], "oldest first");
    let latest = store
        .latest_edits(vec![post.slot_key()])
        .await
        .expect("latest");
    assert_eq!(slots(&latest), [(1, 3)]);
    assert_eq!(found(&store, "beluga").await, [(1, 1)]);

    // The latest edit deleted: the one before it is the post's text again.
    let undo = alice.delete(&second, 400).expect("delete");
    ingest_new(&store, [&undo]).await;
    assert_eq!(found(&store, "narwhal").await, [(1, 1)]);
    assert!(found(&store, "beluga").await.is_empty());

    // Only the post's key may edit it; a deleted post stays deleted; only posts are edited.
    let foreign = bob
        .publish(edit_draft(&post.pointer(), "bob's words"), 500)
        .expect("edit");
    assert!(rejected(
        &ingest(&store, [&foreign]).await,
        "only the post's author"
    ));
    let gone = alice.delete(&post, 600).expect("delete");
    ingest_new(&store, [&gone]).await;
    let late = alice
        .publish(edit_draft(&post.pointer(), "back again"), 700)
        .expect("edit");
    assert!(rejected(&ingest(&store, [&late]).await, "stays deleted"));
    assert!(found(&store, "narwhal").await.is_empty());
    let like = bob
        .opinion(&post.pointer(), agora_protocol::content::opinion::LIKE, 800)
        .expect("like");
    let not_a_post = bob
        .publish(edit_draft(&like.pointer(), "a like edited"), 900)
        .expect("edit");
    ingest_new(&store, [&like]).await;
    assert!(rejected(
        &ingest(&store, [&not_a_post]).await,
        "must refer to a post"
    ));
}

pub async fn an_edit_arriving_before_its_post_applies_when_it_comes<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let post = alice.post("draft about seals", 100).expect("post");
    let edit: VerifiedEvent = alice
        .publish(edit_draft(&post.pointer(), "final about otters"), 200)
        .expect("edit");
    ingest_new(&store, [&edit]).await;
    ingest_new(&store, [&post]).await;
    assert_eq!(found(&store, "otters").await, [(1, 1)]);
    assert!(found(&store, "seals").await.is_empty());
}
