//! Per-system reads: the per-type feed (`index`) with its paging and proof, `head` and `latest`
//! (spec sections 3.1 and 6.2).

use agora_protocol::author::{Author, Draft};
use agora_protocol::{PublicKey, VerifiedEvent, content, wire};
use agora_store::{IndexCursor, Store};

use super::support::*;

pub async fn index_is_newest_first_and_strictly_decreasing<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let mut events = Vec::new();
    for ms in [100, 200, 200, 300] {
        events.push(phone.post("phone", ms).expect("post"));
    }
    for ms in [200, 200, 250] {
        events.push(laptop.post("laptop", ms).expect("post"));
    }
    events.push(
        phone
            .set_element(content::USERNAME, b"alice", 260)
            .expect("username"),
    );
    ingest_new(&store, &events).await;

    let page = index(
        &store,
        phone.system(),
        content::POST,
        IndexCursor::Start,
        100,
    )
    .await;
    let feed = positions(&page.events);
    assert_eq!(
        feed,
        [
            (300, 1, 4),
            (250, 2, 3),
            (200, 2, 2),
            (200, 2, 1),
            (200, 1, 3),
            (200, 1, 2),
            (100, 1, 1),
        ],
        "time, then process, then clock, all descending; only POSTs"
    );
    assert_strictly_decreasing(&feed);
    assert_eq!(page.next, None, "a page that is not full has no cursor");
}

/// Two processes post three events each in every millisecond from 1000 to 1009, and a few
/// posts are deleted, so feeds hold tombstones and six cells per millisecond.
async fn busy_feed<S: Store>(store: &S) -> PublicKey {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let mut posts = Vec::new();
    for ms in 1000..1010 {
        for _ in 0..3 {
            posts.push(phone.post("phone", ms).expect("post"));
            posts.push(laptop.post("laptop", ms).expect("post"));
        }
    }
    ingest_new(store, &posts).await;
    let deletes = [
        phone.delete(&posts[0], 2000).expect("delete"),
        phone.delete(&posts[13], 2001).expect("delete"),
        laptop.delete(&posts[30], 2002).expect("delete"),
    ];
    ingest_new(store, &deletes).await;
    phone.system()
}

/// The official client pages with `after` = the oldest time it has seen. With pages of 5 and
/// six cells per millisecond, most page boundaries fall inside a millisecond; the engine must
/// finish that millisecond so the next page (strictly older) loses nothing.
pub async fn index_pages_by_millisecond_lose_nothing<S: Store>(store: S) {
    let system = busy_feed(&store).await;
    let whole = whole_feed(&store, system, content::POST).await;
    assert_eq!(whole.len(), 60);
    assert_strictly_decreasing(&whole);

    let limit = 5;
    let mut cursor = IndexCursor::Start;
    let mut paged = Vec::new();
    let mut longest_page = 0;
    loop {
        let page = index(&store, system, content::POST, cursor, limit).await;
        let Some(last) = page.events.last() else {
            break;
        };
        cursor = IndexCursor::BeforeMillis(position(last).0);
        longest_page = longest_page.max(page.events.len());
        paged.extend(positions(&page.events));
        assert!(paged.len() <= 2 * whole.len(), "paging does not end");
    }
    assert_eq!(paged, whole, "every cell once, in feed order");
    assert!(
        longest_page > limit,
        "some page was completed to its last millisecond"
    );
}

/// The same with one crowded millisecond: a client (or an import) published twelve posts in
/// one millisecond. Paging with `after` must still see all of them.
pub async fn index_pages_by_millisecond_survive_a_crowded_millisecond<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut posts = vec![alice.post("before", 999).expect("post")];
    for _ in 0..12 {
        posts.push(alice.post("crowded", 1000).expect("post"));
    }
    posts.push(alice.post("after", 1001).expect("post"));
    ingest_new(&store, &posts).await;
    let system = alice.system();

    let mut cursor = IndexCursor::Start;
    let mut paged = Vec::new();
    loop {
        let page = index(&store, system, content::POST, cursor, 5).await;
        let Some(last) = page.events.last() else {
            break;
        };
        cursor = IndexCursor::BeforeMillis(position(last).0);
        paged.extend(positions(&page.events));
        assert!(paged.len() <= 2 * posts.len(), "paging does not end");
    }
    assert_eq!(paged, whole_feed(&store, system, content::POST).await);
    assert_eq!(paged.len(), 14, "every post once");
}

pub async fn index_pages_by_cursor_are_exact<S: Store>(store: S) {
    let system = busy_feed(&store).await;
    let whole = whole_feed(&store, system, content::POST).await;

    for limit in [1, 4, 7, 60] {
        let mut cursor = IndexCursor::Start;
        let mut paged = Vec::new();
        loop {
            let page = index(&store, system, content::POST, cursor, limit).await;
            assert!(
                page.events.len() >= limit || page.next.is_none(),
                "short page has no next"
            );
            paged.extend(positions(&page.events));
            let Some(next) = page.next else { break };
            cursor = IndexCursor::decode(&next).expect("next cursor decodes");
            assert!(paged.len() <= 2 * whole.len(), "paging does not end");
        }
        assert_eq!(
            paged, whole,
            "limit {limit}: every cell once, in feed order"
        );
    }
}

/// Phone posts at 100 and 300, laptop at 200 and 400. Proof events let a client check that no
/// event of the other process was skipped around the page.
pub async fn index_proof_names_other_processes<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let events = [
        phone.post("phone", 100).expect("post"),
        laptop.post("laptop", 200).expect("post"),
        phone.post("phone", 300).expect("post"),
        laptop.post("laptop", 400).expect("post"),
    ];
    ingest_new(&store, &events).await;
    let system = phone.system();

    let page = index(
        &store,
        system,
        content::POST,
        IndexCursor::BeforeMillis(350),
        1,
    )
    .await;
    assert_eq!(slots(&page.events), [(1, 2)]);
    assert_eq!(
        sorted_slots(&page.proof),
        [(2, 1), (2, 2)],
        "laptop's first post at or after 300 and its last at or before 300"
    );

    let page = index(&store, system, content::POST, IndexCursor::Start, 2).await;
    assert_eq!(slots(&page.events), [(2, 2), (1, 2)]);
    assert_eq!(
        sorted_slots(&page.proof),
        [(2, 1)],
        "laptop's last post at or before 300; phone has nothing at or after 400"
    );
}

fn system_processes(author: &mut Author, others: &[&Author], ms: u64) -> VerifiedEvent {
    let content = wire::SystemProcesses {
        processes: others
            .iter()
            .map(|other| other.process().to_wire())
            .collect(),
    };
    let draft = Draft {
        content_type: content::SYSTEM_PROCESSES,
        content: prost::Message::encode_to_vec(&content),
        ..Draft::default()
    };
    author.publish(draft, ms).expect("system processes")
}

pub async fn head_is_highest_clock_per_process_with_its_system_processes<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let mut tablet = author(1, 3);
    let events = [
        phone.post("p", 100).expect("post"),
        system_processes(&mut phone, &[&laptop], 110),
        phone.post("p", 120).expect("post"),
        phone
            .set_element(content::USERNAME, b"alice", 130)
            .expect("name"),
        laptop.post("l", 100).expect("post"),
        laptop.post("l", 200).expect("post"),
        tablet.post("t", 100).expect("post"),
        system_processes(&mut tablet, &[&phone], 110),
    ];
    ingest_new(&store, &events).await;
    let system = phone.system();

    let head = store.head(system).await.expect("head");
    assert_eq!(
        sorted_slots(&head),
        [(1, 2), (1, 4), (2, 2), (3, 2)],
        "phone's head and its SYSTEM_PROCESSES, laptop's head, tablet's head (itself one)"
    );

    let newer = [
        system_processes(&mut phone, &[&laptop, &tablet], 140),
        phone.post("p", 150).expect("post"),
    ];
    ingest_new(&store, &newer).await;
    let head = store.head(system).await.expect("head");
    assert_eq!(sorted_slots(&head), [(1, 5), (1, 6), (2, 2), (3, 2)]);
}

pub async fn latest_is_highest_clock_per_type_and_falls_back_after_delete<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let old_name = phone
        .set_element(content::USERNAME, b"a", 100)
        .expect("name");
    let post = phone.post("post", 110).expect("post");
    let new_name = phone
        .set_element(content::USERNAME, b"b", 120)
        .expect("name");
    let description = phone
        .set_element(content::DESCRIPTION, b"hi", 130)
        .expect("description");
    let laptop_name = laptop
        .set_element(content::USERNAME, b"c", 90)
        .expect("name");
    ingest_new(
        &store,
        [&old_name, &post, &new_name, &description, &laptop_name],
    )
    .await;
    let system = phone.system();

    assert_eq!(
        latest(&store, system, &[content::USERNAME, content::DESCRIPTION]).await,
        [(1, 3), (1, 4), (2, 1)]
    );
    assert_eq!(latest(&store, system, &[content::AVATAR]).await, []);

    let delete = phone.delete(&new_name, 140).expect("delete");
    ingest_new(&store, [&delete]).await;
    assert_eq!(
        latest(&store, system, &[content::USERNAME]).await,
        [(1, 1), (2, 1)],
        "the previous USERNAME of the phone is its latest again"
    );
}
