//! Interoperability, Agora to the official client: what the `agora` binary publishes (a profile
//! with an avatar, a post with an image, a reply, a follow and a like) against a real
//! `agora serve` is read and verified by `@polycentric/polycentric-core` through its own queries
//! (interop/read_agora.test.mjs), and its profile search finds the author by a word of the
//! description with the DESCRIPTION event first.

use std::path::Path;

use agora_client::{AVATAR_SIDES, BLOB_SECTION_BYTES_MAX, Png};
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::{Value, json};

use agora_testnet::lying::LyingServer;

use crate::support::{agora, install_official_client, official_client_tests, serve, terminate};

const NAME: &str = "Agora author ✓";
const DESCRIPTION: &str = "written with the agora CLI: ünïcödé";
/// A word of the username only, and one of the description only.
const NAME_WORD: &str = "author";
const DESCRIPTION_WORD: &str = "written";
const POST: &str = "a post from Agora";
const REPLY: &str = "a reply from Agora to its own post";

/// A picture whose PNG is more than one 512 KiB blob section long: pixels no compressor can shrink
/// much (a fixed linear congruential sequence), so the official client must put a blob back
/// together from several section events.
fn picture() -> DynamicImage {
    let mut state: u32 = 4_242;
    DynamicImage::ImageRgb8(RgbImage::from_fn(640, 480, |x, _| {
        let mut channel = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        };
        image::Rgb([channel(), channel(), (x % 256) as u8])
    }))
}

/// Writes the PNG Agora is expected to publish to `dir/name`, and describes it for the official
/// client's tests: `{"width", "height", "byteCount", "file"}`.
fn expected_png(dir: &Path, name: &str, png: &Png) -> Value {
    let file = dir.join(name);
    std::fs::write(&file, &png.bytes).expect("write the expected PNG");
    json!({
        "width": png.width,
        "height": png.height,
        "byteCount": png.bytes.len(),
        "file": file.to_str().expect("utf-8"),
    })
}

/// `[width, height, byte_count]` of each image of a `--json` answer's image list or image.
fn image_sizes(images: &Value) -> Vec<[u64; 3]> {
    let list = match images {
        Value::Array(list) => list.clone(),
        single => vec![single.clone()],
    };
    list.iter()
        .map(|image| {
            assert_eq!(image["mime"], "image/png", "{image}");
            ["width", "height", "byte_count"].map(|key| {
                image[key]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{key}: {image}"))
            })
        })
        .collect()
}

fn expected_sizes(expected: &[&Png]) -> Vec<[u64; 3]> {
    expected
        .iter()
        .map(|png| {
            [
                u64::from(png.width),
                u64::from(png.height),
                png.bytes.len() as u64,
            ]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_client_reads_an_agora_profile_avatar_image_follow_reply_and_like() {
    install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = serve(data_dir.path());
    let url = served.url.clone();

    let followed = tempfile::tempdir().expect("tempdir");
    agora(followed.path(), &["init"]).await.ok();
    let followed_link = agora(followed.path(), &["link"]).await.ok();

    // The picture, and the PNGs Agora is expected to publish from it, which the official client
    // must load byte for byte.
    let files = tempfile::tempdir().expect("tempdir");
    let source = files.path().join("picture.png");
    picture()
        .save_with_format(&source, ImageFormat::Png)
        .expect("write the picture");
    let source_bytes = std::fs::read(&source).expect("read the picture");
    let avatar = agora_client::avatar_images(&source_bytes).expect("avatar sizes");
    let post_image = agora_client::post_image(&source_bytes).expect("post image");
    assert!(
        post_image.bytes.len() > BLOB_SECTION_BYTES_MAX,
        "the post image spans several blob sections: {} bytes",
        post_image.bytes.len()
    );
    let expected_avatar: Vec<Value> = avatar
        .iter()
        .map(|png| expected_png(files.path(), &format!("avatar-{}.png", png.width), png))
        .collect();
    let expected_image = expected_png(files.path(), "image.png", &post_image);
    let source = source.to_str().expect("utf-8");

    let author = tempfile::tempdir().expect("tempdir");
    agora(author.path(), &["init"]).await.ok();
    agora(author.path(), &["server", "add", &url]).await.ok();
    let profile = agora(
        author.path(),
        &[
            "profile",
            "--name",
            NAME,
            "--description",
            DESCRIPTION,
            "--avatar",
            source,
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(profile["failed"], json!([]), "{profile}");
    assert_eq!(
        image_sizes(&profile["avatar"]),
        expected_sizes(&avatar.iter().collect::<Vec<_>>()),
        "{profile}"
    );
    assert_eq!(
        avatar.iter().map(|png| png.width).collect::<Vec<_>>(),
        AVATAR_SIDES
    );
    let mut published = Vec::new();
    let post = agora(author.path(), &["post", POST, "--image", source, "--json"])
        .await
        .json();
    assert_eq!(
        image_sizes(&post["image"]),
        expected_sizes(&[&post_image]),
        "{post}"
    );
    let post_link = post["link"].as_str().expect("link").to_owned();
    published.push(post);
    published.push(
        agora(
            author.path(),
            &["post", REPLY, "--reply-to", &post_link, "--json"],
        )
        .await
        .json(),
    );
    published.push(
        agora(author.path(), &["follow", followed_link.trim(), "--json"])
            .await
            .json(),
    );
    published.push(
        agora(author.path(), &["like", &post_link, "--json"])
            .await
            .json(),
    );
    for answer in &published {
        assert_eq!(answer["sent"][0]["server"], url, "{answer}");
        assert_eq!(answer["failed"], json!([]), "{answer}");
    }
    let author_link = agora(author.path(), &["link"]).await.ok();

    let expected_avatar = Value::Array(expected_avatar).to_string();
    let expected_image = expected_image.to_string();
    let env = [
        ("AGORA_LINK", author_link.trim()),
        ("AGORA_AVATAR", &expected_avatar),
        ("AGORA_IMAGE", &expected_image),
        ("AGORA_FOLLOWED", followed_link.trim()),
        ("AGORA_NAME", NAME),
        ("AGORA_DESCRIPTION", DESCRIPTION),
        ("AGORA_NAME_WORD", NAME_WORD),
        ("AGORA_DESCRIPTION_WORD", DESCRIPTION_WORD),
        ("AGORA_POST", POST),
        ("AGORA_REPLY", REPLY),
    ];
    let (passed, report) = official_client_reads(&url, &env);
    // The same checks through a server that flips a byte of what it serves must fail on the
    // official client's own signature check: so the pass above means it verified Agora's events.
    let mut liar = LyingServer::start(&url).await;
    let (liar_passed, liar_report) = official_client_reads(&liar.url(), &env);
    liar.stop().await;
    let stopped_cleanly = terminate(served);

    assert!(passed, "official client tests failed:\n{report}");
    assert!(
        report.contains("pass 10") && report.contains("skipped 0"),
        "all 10 official-client checks ran:\n{report}"
    );
    assert!(
        !liar_passed && liar_report.contains("signature verification failed"),
        "the official client must refuse altered events:\n{liar_report}"
    );
    assert!(stopped_cleanly, "the server stopped cleanly");
}

/// Runs read_agora.test.mjs against `server` with `env`; whether it passed, and its report.
fn official_client_reads(server: &str, env: &[(&str, &str)]) -> (bool, String) {
    // Off the runtime's worker, so the servers on this runtime keep serving meanwhile.
    let run =
        tokio::task::block_in_place(|| official_client_tests("read_agora.test.mjs", server, env));
    (run.success, format!("{}\n{}", run.stdout, run.stderr))
}
