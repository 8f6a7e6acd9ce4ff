//! Turning an uploaded file into a clean picture and its thumbnail.
//!
//! The type is read from the bytes (never the file name or a header); only
//! JPEG, PNG, GIF and WebP are accepted. The header's dimensions are checked
//! before anything is decoded (at most [`MAX_DIMENSION`] a side and
//! [`MAX_PIXELS`] in all), and the decoder itself is bounded in dimensions
//! and memory, so a small file that claims a huge picture is refused rather
//! than allocated. The picture is re-encoded, which drops every piece of
//! metadata (EXIF, GPS, comments); EXIF orientation is applied first, in
//! place, so the picture still stands the right way up.

use std::io::Cursor;

use anyhow::Context;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// The largest width or height accepted.
pub const MAX_DIMENSION: u32 = 8192;
/// The most pixels a picture may have (40 megapixels).
pub const MAX_PIXELS: u64 = 40_000_000;
/// The most memory a decode may use: a picture of [`MAX_PIXELS`] at 4 bytes
/// a pixel, and some room for the decoder's own buffers.
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4 + 16 * 1024 * 1024;
/// The longest side of a thumbnail.
pub const THUMBNAIL_SIZE: u32 = 320;
/// JPEG quality of re-encoded pictures.
const JPEG_QUALITY: u8 = 85;

/// A re-encoded picture and its thumbnail.
#[derive(Debug)]
pub struct Processed {
    /// The picture, metadata stripped.
    pub full: Vec<u8>,
    /// A small version (longest side [`THUMBNAIL_SIZE`]).
    pub thumbnail: Vec<u8>,
    /// File extension of both (`jpg` or `png`).
    pub extension: &'static str,
    /// MIME type of both.
    pub content_type: &'static str,
    /// Width of the picture.
    pub width: u32,
    /// Height of the picture.
    pub height: u32,
}

/// Check, clean and shrink an uploaded picture. JPEG stays JPEG; PNG, GIF
/// (first frame) and WebP become PNG, keeping transparency.
pub fn process(bytes: &[u8]) -> Result<Processed> {
    let format = image::guess_format(bytes).map_err(|_| not_an_image())?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP
    ) {
        return Err(not_an_image());
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    let orientation = decoder.orientation().map_err(decode_error)?;
    let mut picture = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    picture.apply_orientation(orientation);

    let (output, extension, content_type) = if format == ImageFormat::Jpeg {
        (ImageFormat::Jpeg, "jpg", "image/jpeg")
    } else {
        (ImageFormat::Png, "png", "image/png")
    };
    let thumbnail = picture.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    Ok(Processed {
        width: picture.width(),
        height: picture.height(),
        full: encode(&picture, output)?,
        thumbnail: encode(&thumbnail, output)?,
        extension,
        content_type,
    })
}

/// Refuse, from the header alone, a picture too wide, too high or with too
/// many pixels.
fn check_dimensions(width: u32, height: u32) -> Result<()> {
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(too_wide());
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Error::validation(
            "file",
            "max_pixels",
            format!(
                "must have at most {} megapixels (this one has {width}x{height})",
                MAX_PIXELS / 1_000_000
            ),
        ));
    }
    Ok(())
}

/// [`process`] on the blocking pool, at most as many at once as `permits`
/// has permits; the others wait their turn.
pub async fn process_bounded(permits: &Semaphore, bytes: bytes::Bytes) -> Result<Processed> {
    run_bounded(permits, move || process(&bytes)).await?
}

/// Run `work` on the blocking pool while holding one of `permits`.
async fn run_bounded<T: Send + 'static>(
    permits: &Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let _permit = permits
        .acquire()
        .await
        .context("waiting for a picture decode slot")?;
    Ok(tokio::task::spawn_blocking(work)
        .await
        .context("processing a picture")?)
}

fn encode(picture: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let result = if format == ImageFormat::Jpeg {
        let mut encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        match picture {
            // A JPEG decodes to RGB or grey already; only others need a copy.
            DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => {
                encoder.encode_image(picture)
            }
            _ => encoder.encode_image(&DynamicImage::ImageRgb8(picture.to_rgb8())),
        }
    } else {
        picture.write_to(&mut out, ImageFormat::Png)
    };
    result.map_err(|e| Error::Internal(anyhow::Error::new(e).context("encoding a picture")))?;
    Ok(out.into_inner())
}

fn not_an_image() -> Error {
    Error::validation(
        "file",
        "image_type",
        "must be a JPEG, PNG, GIF or WebP picture",
    )
}

fn too_wide() -> Error {
    Error::validation(
        "file",
        "max_dimensions",
        format!("must be at most {MAX_DIMENSION} pixels wide and high"),
    )
}

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => too_wide(),
        _ => Error::validation("file", "image_decode", "is not a readable picture"),
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgba, RgbaImage};

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbaImage::from_pixel(width, height, Rgba([200, 10, 10, 255]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(img)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn a_png_gets_a_thumbnail() {
        let done = process(&png(800, 400)).unwrap();
        assert_eq!((done.width, done.height, done.extension), (800, 400, "png"));
        let thumb = image::load_from_memory(&done.thumbnail).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (320, 160));
    }

    #[test]
    fn text_and_broken_pictures_are_refused() {
        let err = process(b"hello, I am not a picture").unwrap_err();
        assert_eq!(err.details()["rule"], "image_type");
        let mut broken = png(10, 10);
        broken.truncate(40);
        assert_eq!(process(&broken).unwrap_err().details()["field"], "file");
    }

    #[test]
    fn jpeg_stays_jpeg_and_loses_its_metadata() {
        let img =
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(50, 40, image::Rgb([1, 2, 3])));
        let mut jpeg = Cursor::new(Vec::new());
        img.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
        let mut bytes = jpeg.into_inner();
        // Splice an APP1 (EXIF) segment with a marker string after SOI.
        let payload = b"Exif\0\0SECRET-GPS-DATA";
        let len = (payload.len() + 2) as u16;
        let mut segment = vec![0xFF, 0xE1];
        segment.extend_from_slice(&len.to_be_bytes());
        segment.extend_from_slice(payload);
        bytes.splice(2..2, segment);
        let done = process(&bytes).unwrap();
        assert_eq!(done.extension, "jpg");
        let hay = String::from_utf8_lossy(&done.full);
        assert!(!hay.contains("SECRET-GPS-DATA"));
    }

    /// A PNG that is only a header: it claims `width` x `height` and holds
    /// a few bytes of picture data, so decoding it could only fail.
    pub(crate) fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        fn crc(data: &[u8]) -> u32 {
            let mut crc = 0xFFFF_FFFFu32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc(&body).to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00]);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    #[test]
    fn too_many_pixels_are_refused_from_the_header() {
        // 7000 x 7000 is within the side limit but 49 megapixels.
        let err = process(&png_header_only(7000, 7000)).unwrap_err();
        assert_eq!(err.details()["rule"], "max_pixels");
        let err = process(&png_header_only(10_000, 10_000)).unwrap_err();
        assert_eq!(err.details()["rule"], "max_dimensions");
        // A header within the limits is decoded (and this one is broken).
        let err = process(&png_header_only(6000, 6000)).unwrap_err();
        assert_eq!(err.details()["rule"], "image_decode");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decodes_run_at_most_as_many_at_once_as_permitted() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let permits = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = (0..6)
            .map(|_| {
                let (permits, running, most) = (permits.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    run_bounded(&permits, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .unwrap();
                })
            })
            .collect::<Vec<_>>();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_bounded_decode_refuses_like_the_plain_one() {
        let permits = Semaphore::new(1);
        let err = process_bounded(&permits, png_header_only(7000, 7000).into())
            .await
            .unwrap_err();
        assert_eq!(err.details()["rule"], "max_pixels");
        assert_eq!(permits.available_permits(), 1);
    }
}
