//! Turning an uploaded file into a clean picture and its thumbnail.
//!
//! The type is read from the bytes (never the file name or a header); only
//! JPEG, PNG, GIF and WebP are accepted. Decoding is bounded in dimensions
//! and memory, so a small file that claims a huge picture is refused rather
//! than allocated. The picture is re-encoded, which drops every piece of
//! metadata (EXIF, GPS, comments); EXIF orientation is applied first so the
//! picture still stands the right way up.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::{Error, Result};

/// The largest width or height accepted.
pub const MAX_DIMENSION: u32 = 8192;
/// The most memory a decode may use.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
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

fn encode(picture: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let result = if format == ImageFormat::Jpeg {
        let rgb = DynamicImage::ImageRgb8(picture.to_rgb8());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .encode_image(&rgb)
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

fn decode_error(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => Error::validation(
            "file",
            "max_dimensions",
            format!("must be at most {MAX_DIMENSION} pixels wide and high"),
        ),
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
}
