//! Images as a person attaches them: `agora post --image`, `agora profile --avatar` and
//! `agora image`, against real servers, read back by other identities.

use std::path::{Path, PathBuf};

use agora_client::{BLOB_SECTION_BYTES_MAX, Client, Home, post_manifest};
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey, VerifiedEvent, content};
use agora_store::{ProcessRanges, Store as _};
use agora_testnet::TestServer;
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Value, json};

use crate::support::{agora, event_pointer, identity};

/// Pixels no compressor can shrink much (a fixed linear congruential sequence), so the PNG is
/// several 512 KiB sections long.
fn noise(width: u32, height: u32) -> DynamicImage {
    let mut state: u32 = 12_345;
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |_, _| {
        let mut channel = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        };
        image::Rgb([channel(), channel(), channel()])
    }))
}

fn write_image(dir: &Path, name: &str, image: &DynamicImage, format: ImageFormat) -> PathBuf {
    let path = dir.join(name);
    image.save_with_format(&path, format).expect("write image");
    path
}

/// The blob section events of a post's image that `server` alone serves, read by a fresh
/// reader: every one verified by the client on arrival.
async fn sections_on(server: &str, post: &Pointer) -> Vec<VerifiedEvent> {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    let pulled = reader
        .pull(post.system, &[server.to_owned()])
        .await
        .expect("pull");
    assert!(pulled.failed.is_empty(), "{:?}", pulled.failed);
    let event = reader.load(post).await.expect("load").expect("post held");
    let manifest = post_manifest(&event).expect("the post has an image");
    let ranges = ProcessRanges {
        process: manifest
            .process
            .as_ref()
            .expect("process")
            .try_into()
            .expect("16 bytes"),
        ranges: manifest.sections.iter().map(|r| (r.low, r.high)).collect(),
    };
    let signed = reader
        .store()
        .events_in_ranges(post.system, vec![ranges], 1_000)
        .await
        .expect("sections");
    signed
        .iter()
        .map(|signed| VerifiedEvent::verify(signed).expect("verified"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_image_is_scaled_published_in_sections_to_every_server_and_saved_back() {
    let (first, second) = (TestServer::start().await, TestServer::start().await);
    let files = tempfile::tempdir().expect("tempdir");
    let big = write_image(
        files.path(),
        "big.png",
        &noise(2000, 1600),
        ImageFormat::Png,
    );
    let alice = tempfile::tempdir().expect("tempdir");
    identity(alice.path(), &[&first.url(), &second.url()]).await;

    let posted = agora(
        alice.path(),
        &[
            "post",
            "a picture",
            "--image",
            big.to_str().expect("utf-8"),
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(posted["failed"], json!([]), "{posted}");
    let image = &posted["image"];
    assert_eq!(
        (&image["mime"], &image["width"], &image["height"]),
        (&json!("image/png"), &json!(1000), &json!(800)),
        "scaled to fit 1000x1000, aspect kept: {posted}"
    );
    let byte_count = image["byte_count"].as_u64().expect("byte_count") as usize;
    assert!(byte_count > 2 * BLOB_SECTION_BYTES_MAX, "{byte_count}");
    let link = posted["link"].as_str().expect("link").to_owned();

    let pointer = event_pointer(&link);
    for server in [&first, &second] {
        let sections = sections_on(&server.url(), &pointer).await;
        assert_eq!(sections.len(), byte_count.div_ceil(BLOB_SECTION_BYTES_MAX));
        for section in &sections {
            assert_eq!(section.content_type(), content::BLOB_SECTION);
            assert!(section.event().content.len() <= BLOB_SECTION_BYTES_MAX);
            assert!(section.references().is_empty());
        }
    }

    let bob = tempfile::tempdir().expect("tempdir");
    identity(bob.path(), &[]).await;
    let shown = agora(bob.path(), &["show", &link, "--json"]).await.json();
    assert_eq!(shown["post"]["image"], *image, "{shown}");
    let text = agora(bob.path(), &["show", &link]).await.ok();
    assert!(
        text.contains(&format!("image: 1000x800 image/png, {byte_count} bytes"))
            && text.contains("agora image"),
        "{text}"
    );
    let out = bob.path().join("saved.png");
    let saved = agora(
        bob.path(),
        &[
            "image",
            &link,
            "--out",
            out.to_str().expect("utf-8"),
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(saved["image"], *image, "{saved}");
    let bytes = std::fs::read(&out).expect("saved file");
    assert_eq!(bytes.len(), byte_count);
    let expected = agora_client::post_image(&std::fs::read(&big).expect("source")).expect("png");
    assert_eq!(bytes, expected.bytes, "the saved PNG is the published one");
    let decoded = image::load_from_memory_with_format(&bytes, ImageFormat::Png).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (1000, 800));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_an_image_is_refused_by_name_and_nothing_is_published() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    identity(alice.path(), &[&server.url()]).await;
    let notes = alice.path().join("notes.txt");
    std::fs::write(&notes, "just words, no pixels").expect("write");
    let notes = notes.to_str().expect("utf-8");

    let refused = agora(alice.path(), &["post", "with text", "--image", notes]).await;
    assert!(
        !refused.success
            && refused.stderr.contains(notes)
            && refused.stderr.contains("not an image"),
        "{}",
        refused.stderr
    );
    let avatar = agora(alice.path(), &["profile", "--avatar", notes]).await;
    assert!(
        !avatar.success && avatar.stderr.contains(notes),
        "{}",
        avatar.stderr
    );
    let missing = agora(alice.path(), &["post", "x", "--image", "/nonexistent.png"]).await;
    assert!(
        !missing.success && missing.stderr.contains("/nonexistent.png"),
        "{}",
        missing.stderr
    );
    let feed = agora(alice.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(feed, json!([]), "nothing was published");
}

fn sides(avatar: &Value) -> Vec<(u64, u64)> {
    avatar
        .as_array()
        .unwrap_or_else(|| panic!("an avatar list: {avatar}"))
        .iter()
        .map(|image| {
            assert_eq!(image["mime"], "image/png");
            (
                image["width"].as_u64().expect("width"),
                image["height"].as_u64().expect("height"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_avatar_is_three_png_squares_that_another_identity_sees_and_saves() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    let alice_link = identity(alice.path(), &[&server.url()]).await;
    let photo = write_image(alice.path(), "me.jpg", &noise(640, 480), ImageFormat::Jpeg);

    let set = agora(
        alice.path(),
        &[
            "profile",
            "--avatar",
            photo.to_str().expect("utf-8"),
            "--name",
            "alice",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(set["failed"], json!([]), "{set}");
    assert_eq!(sides(&set["avatar"]), [(256, 256), (128, 128), (32, 32)]);
    assert_eq!(set["username"], "alice");

    let bob = tempfile::tempdir().expect("tempdir");
    identity(bob.path(), &[]).await;
    let profile = agora(bob.path(), &["profile", &alice_link, "--json"])
        .await
        .json();
    assert_eq!(
        sides(&profile["avatar"]),
        [(256, 256), (128, 128), (32, 32)]
    );
    let text = agora(bob.path(), &["profile", &alice_link]).await.ok();
    assert!(
        text.contains("avatar:      256x256, 128x128, 32x32 image/png"),
        "{text}"
    );

    let out = bob.path().join("alice.png");
    agora(
        bob.path(),
        &["image", &alice_link, "--out", out.to_str().expect("utf-8")],
    )
    .await
    .ok();
    let saved = image::open(&out).expect("a PNG");
    assert_eq!((saved.width(), saved.height()), (256, 256));

    // The AVATAR element holds an ImageBundle, as the official client stores it.
    let system: PublicKey = match Link::parse(&alice_link).expect("link") {
        Link::System { system, .. } => system,
        other => panic!("{other:?}"),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    reader.pull(system, &[server.url()]).await.expect("pull");
    let bundle = reader.avatar(system).await.expect("avatar").expect("set");
    assert_eq!(bundle.image_manifests.len(), 3);
    for manifest in &bundle.image_manifests {
        let png = reader.image_bytes(system, manifest).await.expect("bytes");
        let decoded = image::load_from_memory(&png).expect("png");
        assert_eq!(u64::from(decoded.width()), manifest.width);
    }
}
