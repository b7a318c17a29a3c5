//! Publishing and local state: clocks, indices, deletes, LWW sets and profiles.

use agora_client::{Client, ClientError, Home, Profile};
use agora_protocol::{SecretKey, content, wire};

pub async fn client_in(dir: &std::path::Path) -> Client {
    let home = match Home::open(dir) {
        Ok(home) => home,
        Err(_) => Home::init(dir).expect("init"),
    };
    Client::open(home).await.expect("client opens")
}

fn indices(event: &agora_protocol::VerifiedEvent) -> Vec<(u64, u64)> {
    let indices = event.event().indices.as_ref().expect("indices");
    indices
        .indices
        .iter()
        .map(|index: &wire::Index| (index.index_type, index.logical_clock))
        .collect()
}

#[tokio::test]
async fn clocks_and_indices_continue_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    client.post("one", None, None).await.expect("post");
    client.set_username("ann").await.expect("name");
    let third = client.post("two", None, None).await.expect("post");
    assert_eq!(third.logical_clock, 3);
    let process = client.process();
    drop(client);

    let client = client_in(dir.path()).await;
    assert_eq!((client.process(), client.logical_clock()), (process, 3));
    let fourth = client
        .follow(&SecretKey::generate().public_key())
        .await
        .expect("follow");
    assert_eq!(fourth.logical_clock, 4);
    let event = client.load(&fourth).await.expect("load").expect("stored");
    assert_eq!(
        indices(&event),
        vec![(content::POST, 3), (content::USERNAME, 2)]
    );
}

#[tokio::test]
async fn replies_and_topics_carry_their_references() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    let parent = client.post("parent", None, None).await.expect("post");
    let reply = client
        .post("reply", Some(&parent), Some("rust"))
        .await
        .expect("reply");
    let event = client.load(&reply).await.expect("load").expect("stored");
    let references = event.references();
    assert_eq!(references.len(), 2);
    assert!(
        matches!(&references[0], agora_protocol::Reference::Pointer(p) if p.logical_clock == parent.logical_clock)
    );
    assert!(matches!(&references[1], agora_protocol::Reference::Bytes(b) if b.as_ref() == b"rust"));
    let too_long = "x".repeat(content::POST_TEXT_BYTES_MAX + 1);
    let error = client
        .post(&too_long, None, None)
        .await
        .expect_err("too long");
    assert!(matches!(error, ClientError::PostTooLong(_)), "{error}");
}

#[tokio::test]
async fn delete_removes_own_event_and_refuses_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    let post = client.post("oops", None, None).await.expect("post");
    let delete = client.delete(&post).await.expect("delete");
    assert!(client.load(&post).await.expect("load").is_none());
    let body = client
        .load(&delete)
        .await
        .expect("load")
        .expect("delete stored")
        .delete_body()
        .expect("body")
        .expect("is a delete");
    assert_eq!((body.logical_clock, body.content_type), (1, content::POST));
    assert!(
        client
            .posts(client.system())
            .await
            .expect("posts")
            .is_empty()
    );

    let error = client.delete(&delete).await.expect_err("delete of delete");
    assert!(matches!(error, ClientError::DeleteOfDelete(_)), "{error}");
    let foreign = agora_protocol::Pointer {
        system: SecretKey::generate().public_key(),
        ..post
    };
    let error = client.delete(&foreign).await.expect_err("foreign");
    assert!(matches!(error, ClientError::NotOwn(_)), "{error}");
    let missing = agora_protocol::Pointer {
        logical_clock: 99,
        ..post
    };
    let error = client.delete(&missing).await.expect_err("missing");
    assert!(error.to_string().contains("pull it first"), "{error}");
}

#[tokio::test]
async fn servers_and_following_are_lww_sets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    client.add_server("http://a.example/").await.expect("add");
    client.add_server("http://b.example").await.expect("add");
    client
        .remove_server("http://a.example")
        .await
        .expect("remove");
    assert_eq!(
        client.servers().await.expect("servers"),
        vec!["http://b.example"]
    );
    client.add_server("http://a.example").await.expect("re-add");
    assert_eq!(
        client.servers().await.expect("servers"),
        vec!["http://a.example", "http://b.example"]
    );

    let (ann, bob) = (
        SecretKey::generate().public_key(),
        SecretKey::generate().public_key(),
    );
    client.follow(&ann).await.expect("follow");
    client.follow(&bob).await.expect("follow");
    client.unfollow(&ann).await.expect("unfollow");
    assert_eq!(client.following().await.expect("following"), vec![bob]);
}

#[tokio::test]
async fn profile_takes_the_latest_username_and_description() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    assert_eq!(
        client.profile(client.system()).await.expect("profile"),
        Profile::default()
    );
    client.set_username("ann").await.expect("name");
    client.set_description("hello").await.expect("description");
    client.set_username("annie").await.expect("rename");
    assert_eq!(
        client.profile(client.system()).await.expect("profile"),
        Profile {
            username: Some("annie".into()),
            description: Some("hello".into()),
        }
    );
}

#[tokio::test]
async fn opinions_are_published_as_lww_elements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    let post = client.post("subject", None, None).await.expect("post");
    for (pointer, value) in [
        (client.like(&post).await.expect("like"), 1u8),
        (client.dislike(&post).await.expect("dislike"), 2),
        (client.unlike(&post).await.expect("unlike"), 3),
    ] {
        let event = client.load(&pointer).await.expect("load").expect("stored");
        assert_eq!(event.content_type(), content::OPINION);
        let element = event.event().lww_element.as_ref().expect("element");
        assert_eq!(element.value.as_ref(), [value]);
    }
}
