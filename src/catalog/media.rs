//! Product pictures in object storage: a folder under the data folder by
//! default, any S3-compatible store when `BLYTZ_S3_BUCKET` is set.
//!
//! An upload is checked and cleaned first (see [`super::imaging`]), then the
//! picture and its thumbnail are stored under fresh keys, then the product
//! row is updated; if that last step fails, both objects are deleted again,
//! so a failed upload leaves nothing behind.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use secrecy::ExposeSecret;
use sqlx::types::Json;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::imaging::{self, Processed};
use super::model::{Image, Product};
use super::product_store as store;
use super::{Caller, Catalog, validate};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::ProductId;

/// How often an upload retries its row update when another write got there first.
const UPDATE_ATTEMPTS: usize = 3;

/// Where pictures are kept and how they are reached.
#[derive(Debug, Clone)]
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    /// URL prefix of a stored key: `<base>/<key>`.
    public_base: String,
    /// Whether this is the local folder (served by `GET /media/{key}`).
    local: bool,
    /// The largest upload accepted, in bytes.
    max_bytes: usize,
    /// Pictures being decoded at once (`BLYTZ_IMAGE_DECODES`).
    decodes: Arc<Semaphore>,
}

/// A stored object read back.
#[derive(Debug)]
pub struct MediaObject {
    /// The bytes.
    pub bytes: Bytes,
    /// Its MIME type, from the key's extension.
    pub content_type: &'static str,
}

impl MediaStore {
    /// The store the configuration asks for: S3 when `s3_bucket` is set,
    /// else the folder `media_dir` (default `<data_dir>/media`, created when missing).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let public_url = config
            .media_public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty());
        if let Some(bucket) = config.s3_bucket.as_deref().filter(|b| !b.is_empty()) {
            let region = config.s3_region.as_deref().unwrap_or("us-east-1");
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region);
            if let Some(endpoint) = config.s3_endpoint.as_deref().filter(|e| !e.is_empty()) {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(key) = &config.s3_access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &config.s3_secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            let store = builder.build().context("configuring the S3 media store")?;
            let public_base = public_url.unwrap_or_else(|| match &config.s3_endpoint {
                Some(endpoint) if !endpoint.is_empty() => {
                    format!("{}/{bucket}", endpoint.trim_end_matches('/'))
                }
                _ => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            });
            return Ok(Self {
                store: Arc::new(store),
                public_base,
                local: false,
                max_bytes: config.max_image_bytes,
                decodes: decode_permits(config.image_decodes),
            });
        }
        let dir = config
            .media_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("media"));
        Ok(
            Self::local(dir, public_url, config.max_image_bytes)?
                .with_decodes(config.image_decodes),
        )
    }

    /// The same store, decoding at most `decodes` pictures at once (0 counts as 1).
    #[must_use]
    pub fn with_decodes(mut self, decodes: usize) -> Self {
        self.decodes = decode_permits(decodes);
        self
    }

    /// A store in the folder `dir`; keys are served at `<public_url or /media>/<key>`.
    pub fn local(
        dir: PathBuf,
        public_url: Option<String>,
        max_bytes: usize,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the media folder {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("opening the media folder {}", dir.display()))?;
        Ok(Self {
            store: Arc::new(store),
            public_base: public_url.unwrap_or_else(|| "/media".to_owned()),
            local: true,
            max_bytes,
            decodes: decode_permits(crate::config::DEFAULT_IMAGE_DECODES),
        })
    }

    /// The largest upload accepted, in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether pictures live in the local folder.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Where a key is served.
    pub fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    /// Read a stored object; `None` when the key is malformed or absent.
    pub async fn get(&self, key: &str) -> Result<Option<MediaObject>> {
        if !valid_key(key) {
            return Ok(None);
        }
        let path = ObjectPath::from(key);
        match self.store.get(&path).await {
            Ok(found) => {
                let bytes = found.bytes().await.context("reading a media object")?;
                Ok(Some(MediaObject {
                    bytes,
                    content_type: content_type_of(key),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e)
                .context("reading a media object")
                .into()),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &'static str) -> Result<()> {
        let mut options = PutOptions::default();
        if !self.local {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, content_type.into());
            attributes.insert(
                Attribute::CacheControl,
                "public, max-age=31536000, immutable".into(),
            );
            options.attributes = attributes;
        }
        self.store
            .put_opts(&ObjectPath::from(key), PutPayload::from(bytes), options)
            .await
            .context("storing a media object")?;
        Ok(())
    }

    /// Delete objects, logging (not returning) failures: used to undo.
    async fn delete_quietly(&self, keys: &[&str]) {
        for key in keys {
            if let Err(e) = self.store.delete(&ObjectPath::from(*key)).await {
                tracing::warn!(key, error = %e, "could not delete a media object");
            }
        }
    }
}

/// Keys are `products/<uuid>/<name>.<ext>`-like: segments of ASCII letters,
/// digits, `-`, `_` and `.`, never `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    key.len() <= 256
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

fn content_type_of(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

impl Catalog {
    /// The picture store.
    pub fn media(&self) -> &MediaStore {
        &self.media
    }

    /// Check that `caller` may add a picture to the product before its upload
    /// is read: it exists, the caller owns it (or is an admin), and it has room.
    pub async fn ensure_may_add_image(&self, caller: Caller, id: ProductId) -> Result<()> {
        let row = self.product_row(id).await?;
        Error::unless_may_manage(caller, row.seller_id)?;
        if row.images.0.len() >= validate::IMAGES_MAX {
            return Err(too_many_images());
        }
        Ok(())
    }

    /// Store an uploaded picture (and its thumbnail) and add it to the product.
    #[tracing::instrument(skip(self, upload), fields(caller = %caller.id, bytes = upload.len()))]
    pub async fn add_image(
        &self,
        caller: Caller,
        id: ProductId,
        upload: Bytes,
    ) -> Result<(Image, Product)> {
        self.ensure_may_add_image(caller, id).await?;
        if upload.len() > self.media.max_bytes {
            return Err(too_large(self.media.max_bytes));
        }
        let processed = imaging::process_bounded(&self.media.decodes, upload).await?;
        let Processed {
            full,
            thumbnail,
            extension,
            content_type,
            width,
            height,
        } = processed;
        let name = Uuid::now_v7().simple().to_string();
        let key = format!("products/{id}/{name}.{extension}");
        let thumb_key = format!("products/{id}/{name}_thumb.{extension}");
        self.media.put(&key, full, content_type).await?;
        if let Err(e) = self.media.put(&thumb_key, thumbnail, content_type).await {
            self.media.delete_quietly(&[&key]).await;
            return Err(e);
        }
        let image = Image {
            url: self.media.url(&key),
            thumbnail_url: Some(self.media.url(&thumb_key)),
            width: Some(width),
            height: Some(height),
        };
        match self.append_image(caller, id, image.clone()).await {
            Ok(product) => Ok((image, product)),
            Err(e) => {
                self.media.delete_quietly(&[&key, &thumb_key]).await;
                Err(e)
            }
        }
    }

    async fn append_image(&self, caller: Caller, id: ProductId, image: Image) -> Result<Product> {
        for _ in 0..UPDATE_ATTEMPTS {
            let mut row = self.product_row(id).await?;
            Error::unless_may_manage(caller, row.seller_id)?;
            if row.images.0.len() >= validate::IMAGES_MAX {
                return Err(too_many_images());
            }
            let mut images = row.images.0.clone();
            images.push(image.clone());
            row.images = Json(images);
            row.version += 1;
            row.updated_at = crate::time::now();
            if store::update(&self.db, &row, false).await? {
                return Ok(row.to_product(true, self.views.pending(id))?);
            }
        }
        Err(super::products::concurrent_update())
    }
}

fn decode_permits(decodes: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(decodes.clamp(1, Semaphore::MAX_PERMITS)))
}

/// 422 for an upload above the limit.
pub fn too_large(max_bytes: usize) -> Error {
    Error::validation(
        "file",
        "max_size",
        format!("must be at most {max_bytes} bytes"),
    )
}

fn too_many_images() -> Error {
    Error::validation(
        "images",
        "max_items",
        format!("a product has at most {} images", validate::IMAGES_MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys() {
        assert!(valid_key("products/0192/abc_thumb.jpg"));
        for bad in [
            "",
            "../etc/passwd",
            "a//b",
            "a/./b",
            "a/b c",
            "/abs",
            "a\\b",
        ] {
            assert!(!valid_key(bad), "{bad}");
        }
    }
}
