//! Images people attach (spec section 3.7): decoding what a person gives, scaling it as the
//! official web client does, publishing it as BLOB_SECTION events, and putting a blob back
//! together from verified section events.
//!
//! The bytes published are always PNG, whatever the input format was, so every reader can show
//! them, and the manifest's width and height are those of the published PNG.

use std::io::Cursor;

use agora_protocol::author::Draft;
use agora_protocol::{Pointer, Process, PublicKey, VerifiedEvent, content, wire};
use agora_store::{ProcessRanges, Store as _};
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat};
use prost::Message as _;

use crate::client::stored_corrupt;
use crate::{Client, ClientError};

/// Largest content of one BLOB_SECTION event: 512 KiB, as official clients cut blobs.
pub const BLOB_SECTION_BYTES_MAX: usize = 512 * 1024;
/// A post image is scaled down to fit this square, keeping its aspect ratio.
pub const POST_IMAGE_SIDE_MAX: u32 = 1000;
/// The avatar sizes the official web client publishes, largest first (square, center crop).
pub const AVATAR_SIDES: [u32; 3] = [256, 128, 32];
/// Most section events a manifest may name when read back (32 MiB of blob): a manifest from
/// anyone else is untrusted, and must not make the client walk billions of clocks.
pub const IMAGE_SECTIONS_MAX: usize = 64;
/// The MIME type of every image this client publishes.
pub const PNG_MIME: &str = "image/png";

/// Why an image could not be prepared or read back.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not an image this client can read (PNG, JPEG, GIF or WebP): {0}")]
    Decode(#[source] image::ImageError),
    #[error("cannot encode the image as PNG: {0}")]
    Encode(#[source] image::ImageError),
    #[error("the image is empty (0 pixels wide or high)")]
    Empty,
    #[error("the image was deleted by its author")]
    Deleted,
    #[error("the image is incomplete: {held} of its {expected} section events are held")]
    Incomplete { held: usize, expected: usize },
    #[error("section event {0} of the image is not a blob section (type {1})")]
    NotASection(u64, u64),
    #[error("the image has {found} bytes where its manifest says {expected}")]
    WrongSize { found: usize, expected: u64 },
    #[error("the manifest names no publishing process")]
    NoProcess,
    #[error("the manifest names more than {IMAGE_SECTIONS_MAX} section events")]
    TooManySections,
}

/// An image ready to publish: PNG bytes and their dimensions.
#[derive(Clone, Debug)]
pub struct Png {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decodes any supported image and re-encodes it as PNG, scaled down (never up) to fit
/// [`POST_IMAGE_SIDE_MAX`] on both sides with its aspect ratio kept.
pub fn post_image(bytes: &[u8]) -> Result<Png, ImageError> {
    let image = decode(bytes)?;
    let image = if image.width() > POST_IMAGE_SIDE_MAX || image.height() > POST_IMAGE_SIDE_MAX {
        image.resize(
            POST_IMAGE_SIDE_MAX,
            POST_IMAGE_SIDE_MAX,
            FilterType::Lanczos3,
        )
    } else {
        image
    };
    encode_png(&image)
}

/// Decodes any supported image into the avatar sizes, largest first: each a square center crop
/// scaled to [`AVATAR_SIDES`].
pub fn avatar_images(bytes: &[u8]) -> Result<Vec<Png>, ImageError> {
    let image = decode(bytes)?;
    AVATAR_SIDES
        .iter()
        .map(|&side| encode_png(&image.resize_to_fill(side, side, FilterType::Lanczos3)))
        .collect()
}

fn decode(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let image = image::load_from_memory(bytes).map_err(ImageError::Decode)?;
    if image.width() == 0 || image.height() == 0 {
        return Err(ImageError::Empty);
    }
    Ok(image)
}

fn encode_png(image: &DynamicImage) -> Result<Png, ImageError> {
    // 8-bit RGBA is what every PNG encoder and reader handles (decoders may yield float pixels).
    let image = DynamicImage::ImageRgba8(image.to_rgba8());
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(ImageError::Encode)?;
    Ok(Png {
        bytes,
        width: image.width(),
        height: image.height(),
    })
}

/// Where a manifest's sections live: its process and clock ranges.
pub fn manifest_ranges(manifest: &wire::ImageManifest) -> Result<ProcessRanges, ImageError> {
    let process = manifest
        .process
        .as_ref()
        .and_then(|process| Process::try_from(process).ok())
        .ok_or(ImageError::NoProcess)?;
    let ranges = ProcessRanges {
        process,
        ranges: manifest
            .sections
            .iter()
            .map(|range| (range.low, range.high))
            .collect(),
    };
    if section_count(&ranges) > IMAGE_SECTIONS_MAX as u64 {
        return Err(ImageError::TooManySections);
    }
    Ok(ranges)
}

/// The number of section events ranges name (an inverted range names none).
fn section_count(ranges: &ProcessRanges) -> u64 {
    ranges
        .ranges
        .iter()
        .filter(|&&(low, high)| low <= high)
        .map(|&(low, high)| (high - low).saturating_add(1))
        .fold(0, u64::saturating_add)
}

/// Puts a blob back together from its section events, which must all be present, verified,
/// BLOB_SECTIONs of `system`, and add up to `manifest.byte_count` bytes.
pub fn reassemble(
    manifest: &wire::ImageManifest,
    events: &[VerifiedEvent],
) -> Result<Vec<u8>, ImageError> {
    let expected = section_count(&manifest_ranges(manifest)?) as usize;
    if events.iter().any(|e| e.content_type() == content::DELETE) {
        return Err(ImageError::Deleted);
    }
    if events.len() != expected {
        return Err(ImageError::Incomplete {
            held: events.len(),
            expected,
        });
    }
    let mut sorted: Vec<&VerifiedEvent> = events.iter().collect();
    sorted.sort_by_key(|event| event.logical_clock());
    let mut bytes = Vec::new();
    for event in sorted {
        if event.content_type() != content::BLOB_SECTION {
            return Err(ImageError::NotASection(
                event.logical_clock(),
                event.content_type(),
            ));
        }
        bytes.extend_from_slice(&event.event().content);
    }
    if bytes.len() as u64 != manifest.byte_count {
        return Err(ImageError::WrongSize {
            found: bytes.len(),
            expected: manifest.byte_count,
        });
    }
    Ok(bytes)
}

impl Client {
    /// Publishes `bytes` as BLOB_SECTION events of at most [`BLOB_SECTION_BYTES_MAX`] bytes,
    /// and returns the manifest of the PNG they hold.
    pub async fn publish_png(&self, png: &Png) -> Result<wire::ImageManifest, ClientError> {
        let mut ranges = Vec::<(u64, u64)>::new();
        for chunk in png.bytes.chunks(BLOB_SECTION_BYTES_MAX) {
            let draft = Draft {
                content_type: content::BLOB_SECTION,
                content: chunk.to_vec(),
                ..Draft::default()
            };
            let clock = self
                .publish(|author, ms| author.publish(draft, ms))
                .await?
                .logical_clock;
            match ranges.last_mut() {
                Some((_, high)) if *high + 1 == clock => *high = clock,
                _ => ranges.push((clock, clock)),
            }
        }
        Ok(wire::ImageManifest {
            mime: PNG_MIME.to_owned(),
            width: u64::from(png.width),
            height: u64::from(png.height),
            byte_count: png.bytes.len() as u64,
            process: Some(self.process().to_wire()),
            sections: ranges
                .into_iter()
                .map(|(low, high)| wire::Range { low, high })
                .collect(),
        })
    }

    /// Sets the avatar from any supported image: three PNG sizes published as blobs, then the
    /// AVATAR element holding their `ImageBundle`, as the official client stores it.
    pub async fn set_avatar(&self, image: &[u8]) -> Result<Pointer, ClientError> {
        let mut manifests = Vec::new();
        for png in avatar_images(image)? {
            manifests.push(self.publish_png(&png).await?);
        }
        let bundle = wire::ImageBundle {
            image_manifests: manifests,
        };
        self.set_element(content::AVATAR, &bundle.encode_to_vec())
            .await
    }

    /// A system's avatar bundle, as the local store knows it.
    pub async fn avatar(
        &self,
        system: PublicKey,
    ) -> Result<Option<wire::ImageBundle>, ClientError> {
        let value = self.element(system, content::AVATAR).await?;
        Ok(value.and_then(|value| wire::ImageBundle::decode(value.as_slice()).ok()))
    }

    /// The bytes of an image published by `system`, from the local store (pull the system
    /// first). Every section event is verified again as it is read.
    pub async fn image_bytes(
        &self,
        system: PublicKey,
        manifest: &wire::ImageManifest,
    ) -> Result<Vec<u8>, ClientError> {
        let ranges = manifest_ranges(manifest)?;
        let limit = section_count(&ranges) as usize;
        let signed = self
            .store
            .events_in_ranges(system, vec![ranges.clone()], limit)
            .await?;
        let events = signed
            .iter()
            .map(|signed| VerifiedEvent::verify(signed).map_err(stored_corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        match reassemble(manifest, &events) {
            Err(ImageError::Incomplete { .. })
                if self.holds_a_gap(system, &ranges, &events).await? =>
            {
                Err(ImageError::Deleted.into())
            }
            other => Ok(other?),
        }
    }

    /// Whether a section slot that returned no event is one the local store holds: a slot held
    /// without its event is a deleted one (its tombstone counts as held, spec section 3.1).
    async fn holds_a_gap(
        &self,
        system: PublicKey,
        sections: &ProcessRanges,
        events: &[VerifiedEvent],
    ) -> Result<bool, ClientError> {
        let returned: std::collections::HashSet<u64> =
            events.iter().map(VerifiedEvent::logical_clock).collect();
        let held = self.store.ranges(system).await?;
        let held: Vec<(u64, u64)> = held
            .into_iter()
            .filter(|ranges| ranges.process == sections.process)
            .flat_map(|ranges| ranges.ranges)
            .collect();
        let is_held = |clock: u64| {
            held.iter()
                .any(|&(low, high)| (low..=high).contains(&clock))
        };
        Ok(sections
            .ranges
            .iter()
            .flat_map(|&(low, high)| low..=high)
            .any(|clock| !returned.contains(&clock) && is_held(clock)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
        }));
        encode_png(&image).expect("encode").bytes
    }

    #[test]
    fn a_large_post_image_is_scaled_to_fit_keeping_its_aspect_ratio() {
        let png = post_image(&png_of(2000, 1200)).expect("image");
        assert_eq!((png.width, png.height), (1000, 600));
        let small = post_image(&png_of(300, 200)).expect("image");
        assert_eq!((small.width, small.height), (300, 200), "never scaled up");
        let tall = post_image(&png_of(500, 3000)).expect("image");
        assert_eq!((tall.width, tall.height), (167, 1000));
    }

    #[test]
    fn avatars_are_three_squares_largest_first() {
        let sizes: Vec<(u32, u32)> = avatar_images(&png_of(640, 480))
            .expect("avatar")
            .iter()
            .map(|png| (png.width, png.height))
            .collect();
        assert_eq!(sizes, [(256, 256), (128, 128), (32, 32)]);
    }

    #[test]
    fn a_text_file_is_not_an_image() {
        assert!(matches!(
            post_image(b"hello, this is text"),
            Err(ImageError::Decode(_))
        ));
        assert!(matches!(avatar_images(b""), Err(ImageError::Decode(_))));
    }
}

#[cfg(test)]
mod manifest_tests {
    use super::*;

    #[test]
    fn a_manifest_naming_too_many_sections_is_refused_before_any_read() {
        let manifest = wire::ImageManifest {
            process: Some(Process::from_bytes(&[3; 16]).expect("process").to_wire()),
            sections: vec![wire::Range {
                low: 1,
                high: u64::MAX,
            }],
            ..Default::default()
        };
        assert!(matches!(
            manifest_ranges(&manifest),
            Err(ImageError::TooManySections)
        ));
        assert!(matches!(
            reassemble(&manifest, &[]),
            Err(ImageError::TooManySections)
        ));
    }
}
