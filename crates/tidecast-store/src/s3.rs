//! An S3-compatible store (AWS S3, MinIO, Ceph RGW, ...) through the `object_store` crate:
//! `s3://bucket/prefix`, credentials and endpoint from the usual `AWS_*` variables.
//!
//! Versions are created with a conditional put (`If-None-Match: *`), so a version is never
//! overwritten; the pointer object is replaced whole (S3 puts are atomic), after the version
//! it names is complete. The [`Store`] calls are synchronous: each runs on the store's own
//! I/O runtime, so callers on any thread (async or not) can use it.

use crate::store::{Store, StoreError, check_name};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::sync::Arc;

type Result<T> = std::result::Result<T, StoreError>;

/// A bucket (and key prefix) holding the store's layout.
#[derive(Debug)]
pub struct S3Store {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    runtime: Option<tokio::runtime::Runtime>,
}

fn s3_error(op: &'static str, url: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Remote {
        op,
        url: url.to_string(),
        reason: e.to_string(),
    }
}

impl S3Store {
    /// Open `s3://bucket/prefix`. The endpoint (`AWS_ENDPOINT_URL`, for S3-compatible
    /// servers), region and credentials come from the environment; `http://` endpoints are
    /// allowed when `AWS_ALLOW_HTTP=true`.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &[])
    }

    /// [`S3Store::open`] with configuration keys of `object_store`'s `AmazonS3ConfigKey`
    /// set on top of the environment (`("endpoint", "http://127.0.0.1:9000")`,
    /// `("allow_http", "true")`, `("access_key_id", ...)`, ...).
    pub fn open_with(url: &str, options: &[(&str, &str)]) -> Result<Self> {
        let rest = url.strip_prefix("s3://").unwrap_or(url);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Url(format!("store URL {url:?}: no bucket")));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        for (k, v) in options {
            let key = k
                .parse::<object_store::aws::AmazonS3ConfigKey>()
                .map_err(|e| StoreError::Url(format!("store option {k:?}: {e}")))?;
            builder = builder.with_config(key, *v);
        }
        let store = builder
            .build()
            .map_err(|e| StoreError::Url(format!("store URL {url:?}: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tidecast-s3")
            .enable_all()
            .build()
            .map_err(|e| s3_error("starting the I/O runtime for", url, e))?;
        Ok(Self {
            url: url.to_string(),
            store: Arc::new(store),
            prefix: Path::from(prefix.trim_matches('/')),
            runtime: Some(runtime),
        })
    }

    /// Run `f` on the store's runtime and wait for it.
    fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime
            .as_ref()
            .expect("set until drop")
            .spawn(async move {
                let _ = tx.send(f.await);
            });
        rx.recv()
            .expect("the I/O runtime runs until the store is dropped")
    }

    fn key(&self, target: &str, name: &str) -> Result<Path> {
        check_name(target)?;
        Ok(self.prefix.clone().join(target).join(name))
    }

    fn put(&self, key: Path, bytes: Vec<u8>, mode: PutMode) -> Result<()> {
        let (store, url) = (self.store.clone(), self.url.clone());
        self.run(async move {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            store
                .put_opts(&key, PutPayload::from(bytes), opts)
                .await
                .map(|_| ())
                .map_err(|e| s3_error("writing", &format!("{url} {key}"), e))
        })
    }

    fn get(&self, key: Path) -> Result<Option<Vec<u8>>> {
        let (store, url) = (self.store.clone(), self.url.clone());
        self.run(async move {
            match store.get(&key).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(|b| Some(b.to_vec()))
                    .map_err(|e| s3_error("reading", &format!("{url} {key}"), e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error("reading", &format!("{url} {key}"), e)),
            }
        })
    }

    fn list(&self, prefix: Path) -> Result<Vec<String>> {
        let (store, url) = (self.store.clone(), self.url.clone());
        self.run(async move {
            let objects: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| s3_error("listing", &format!("{url} {prefix}"), e))?;
            Ok(objects
                .into_iter()
                .filter_map(|o| o.location.filename().map(str::to_string))
                .collect())
        })
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's context would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Store for S3Store {
    fn put_version(&self, target: &str, version: &str, bytes: &[u8]) -> Result<()> {
        let key = self.key(target, &format!("{version}.model"))?;
        match self.put(key, bytes.to_vec(), PutMode::Create) {
            // The same bytes at the same millisecond: already published.
            Err(StoreError::Remote { reason, .. }) if reason.contains("already exists") => Ok(()),
            other => other,
        }
    }

    fn write_pointer(&self, target: &str, version: &str) -> Result<()> {
        self.put(
            self.key(target, "current")?,
            format!("{version}\n").into_bytes(),
            PutMode::Overwrite,
        )
    }

    fn remove(&self, target: &str, version: &str) -> Result<()> {
        let key = self.key(target, &format!("{version}.model"))?;
        let (store, url) = (self.store.clone(), self.url.clone());
        self.run(async move {
            store
                .delete(&key)
                .await
                .map_err(|e| s3_error("removing", &format!("{url} {key}"), e))
        })
    }

    fn current(&self, target: &str) -> Result<Option<String>> {
        Ok(self
            .get(self.key(target, "current")?)?
            .map(|b| String::from_utf8_lossy(&b).trim().to_string()))
    }

    fn read(&self, target: &str, version: &str) -> Result<Vec<u8>> {
        self.get(self.key(target, &format!("{version}.model"))?)?
            .ok_or_else(|| StoreError::NoSuchVersion {
                target: target.into(),
                version: version.into(),
            })
    }

    fn versions(&self, target: &str) -> Result<Vec<String>> {
        check_name(target)?;
        let mut out: Vec<String> = self
            .list(self.prefix.clone().join(target))?
            .into_iter()
            .filter_map(|n| n.strip_suffix(".model").map(str::to_string))
            .filter(|n| n.starts_with('v'))
            .collect();
        out.sort();
        Ok(out)
    }

    fn targets(&self) -> Result<Vec<String>> {
        let (store, url, prefix) = (self.store.clone(), self.url.clone(), self.prefix.clone());
        let dirs = self.run(async move {
            store
                .list_with_delimiter(Some(&prefix))
                .await
                .map(|l| {
                    l.common_prefixes
                        .iter()
                        .filter_map(|p| p.filename().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| s3_error("listing", &url, e))
        })?;
        let mut out = Vec::new();
        for d in dirs {
            if check_name(&d).is_ok() && !self.versions(&d)?.is_empty() {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}
