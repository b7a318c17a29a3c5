//! Images through the library: the events a post image becomes, and reading a blob back only
//! when every section is there and none was deleted.

use agora_client::{BLOB_SECTION_BYTES_MAX, ClientError, ImageError, post_manifest};
use agora_protocol::{Pointer, content};
use image::{DynamicImage, ImageFormat, RgbImage};

use crate::publish::client_in;

/// A PNG of noise (incompressible) that needs more than one 512 KiB section.
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state: u32 = 7;
    let image = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |_, _| {
        let mut channel = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        };
        image::Rgb([channel(), channel(), channel()])
    }));
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .expect("encode");
    bytes
}

#[tokio::test]
async fn a_post_image_is_sections_then_the_post_and_a_deleted_section_loses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client_in(dir.path()).await;
    let post = client
        .post_with_image("look", None, None, &noisy_png(600, 500))
        .await
        .expect("post");
    let event = client.load(&post).await.expect("load").expect("held");
    let manifest = post_manifest(&event).expect("manifest");
    assert_eq!((manifest.width, manifest.height), (600, 500));
    assert_eq!(manifest.mime, "image/png");
    assert_eq!(manifest.process, Some(client.process().to_wire()));
    let sections = (manifest.byte_count as usize).div_ceil(BLOB_SECTION_BYTES_MAX) as u64;
    assert!(sections > 1, "{} bytes", manifest.byte_count);
    assert_eq!(
        manifest.sections.len(),
        1,
        "consecutive clocks make one range"
    );
    assert_eq!(
        (manifest.sections[0].low, manifest.sections[0].high),
        (1, sections),
        "the sections come first, the post after them"
    );
    assert_eq!(post.logical_clock, sections + 1);

    let bytes = client
        .image_bytes(client.system(), &manifest)
        .await
        .expect("bytes");
    assert_eq!(bytes.len() as u64, manifest.byte_count);
    let decoded = image::load_from_memory(&bytes).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (600, 500));

    let second = Pointer {
        logical_clock: 2,
        ..post
    };
    let section = client.load(&second).await.expect("load").expect("held");
    assert_eq!(section.content_type(), content::BLOB_SECTION);
    client.delete(&section.pointer()).await.expect("delete");
    let gone = client.image_bytes(client.system(), &manifest).await;
    assert!(
        matches!(gone, Err(ClientError::Image(ImageError::Deleted))),
        "{gone:?}"
    );
}
