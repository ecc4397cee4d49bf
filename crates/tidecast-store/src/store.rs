//! The model store: per target, versioned artifact files and a `current` pointer.
//!
//! Layout under the root: `<target>/<version>.model` and `<target>/current` (one line: the
//! current version). Versions are named `v<unix millis, 13 digits>-<8 hex of the content
//! hash>`, so their names sort by publish time.

use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a store operation failed; names the path and the reason.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("writing", "renaming", ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A target name that cannot be a directory name.
    #[error(
        "target name {0:?} cannot name a store directory (letters, digits, '.', '_' and '-' only, not starting with '.')"
    )]
    TargetName(String),
    /// A version that does not exist.
    #[error("{target}: no version {version} in the store")]
    NoSuchVersion {
        /// The target.
        target: String,
        /// The version asked for.
        version: String,
    },
    /// A store URL this build cannot open.
    #[error("{0}")]
    Url(String),
    /// An object store call failed.
    #[error("{op} {url}: {reason}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The store URL and key.
        url: String,
        /// The error.
        reason: String,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

/// Where artifacts are published and read. One writer at a time per store (the training
/// job); any number of readers (the servers). A backend provides the primitives; publishing,
/// rollback and pruning are the same on every backend.
pub trait Store: Send + Sync + Debug {
    /// Write `bytes` as version `version` of `target`, whole or not at all (never
    /// overwriting a different version).
    fn put_version(&self, target: &str, version: &str, bytes: &[u8]) -> Result<()>;
    /// Point `target` at `version`, atomically.
    fn write_pointer(&self, target: &str, version: &str) -> Result<()>;
    /// Delete a version.
    fn remove(&self, target: &str, version: &str) -> Result<()>;
    /// The current version of `target`, if any.
    fn current(&self, target: &str) -> Result<Option<String>>;
    /// A version's bytes.
    fn read(&self, target: &str, version: &str) -> Result<Vec<u8>>;
    /// The versions of `target`, oldest first.
    fn versions(&self, target: &str) -> Result<Vec<String>>;
    /// The targets with at least one version, sorted.
    fn targets(&self) -> Result<Vec<String>>;

    /// Publish `bytes` as a new version of `target` and make it current: a reader sees the
    /// previous complete version or the new complete one, never a part, because the
    /// pointer moves only after the version is complete. Returns the new version's name.
    fn publish(&self, target: &str, bytes: &[u8], unix_millis: i64) -> Result<String> {
        check_name(target)?;
        let hash = crate::artifact::sha256_hex(bytes);
        let version = format!("v{unix_millis:013}-{}", &hash[..8]);
        self.put_version(target, &version, bytes)?;
        self.write_pointer(target, &version)?;
        Ok(version)
    }

    /// Make `version` (which must exist) current: a rollback.
    fn set_current(&self, target: &str, version: &str) -> Result<()> {
        if !self.versions(target)?.iter().any(|v| v == version) {
            return Err(StoreError::NoSuchVersion {
                target: target.into(),
                version: version.into(),
            });
        }
        self.write_pointer(target, version)
    }

    /// Remove all but the newest `keep` versions of `target`, never the current one;
    /// returns the removed.
    fn prune(&self, target: &str, keep: usize) -> Result<Vec<String>> {
        let current = self.current(target)?;
        let versions = self.versions(target)?;
        let cut = versions.len().saturating_sub(keep.max(1));
        let mut removed = Vec::new();
        for v in &versions[..cut] {
            if Some(v) != current.as_ref() {
                self.remove(target, v)?;
                removed.push(v.clone());
            }
        }
        Ok(removed)
    }
}

/// Open a store from its URL: `file:///var/lib/tidecast/models`, a plain path, or
/// `s3://bucket/prefix` (S3 and S3-compatible servers; see [`crate::S3Store`]).
pub fn open(url: &str) -> Result<Box<dyn Store>> {
    if url.starts_with("s3://") {
        return Ok(Box::new(crate::s3::S3Store::open(url)?));
    }
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(StoreError::Url(format!(
                "store URL {url:?}: file:// needs an absolute path (file:///var/lib/tidecast/models)"
            )));
        }
        return Ok(Box::new(FileStore::new(path)));
    }
    if url.contains("://") {
        let scheme = url.split("://").next().unwrap_or_default();
        return Err(StoreError::Url(format!(
            "store URL {url:?}: scheme {scheme}:// is not supported (file://, s3:// or a path)"
        )));
    }
    Ok(Box::new(FileStore::new(url)))
}

/// A directory store (a PVC): temporary file, fsync, rename, fsync of the directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

const EXT: &str = "model";
const POINTER: &str = "current";

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn check_name(target: &str) -> Result<()> {
    let ok = !target.is_empty()
        && !target.starts_with('.')
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::TargetName(target.to_string()))
    }
}

impl FileStore {
    /// A store rooted at `root` (created on the first publish).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn dir(&self, target: &str) -> Result<PathBuf> {
        check_name(target)?;
        Ok(self.root.join(target))
    }

    /// Write `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync
    /// of the directory. On failure the temporary file is removed and `path` is untouched.
    fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
            f.write_all(bytes).map_err(io("writing", &tmp))?;
            f.sync_all().map_err(io("syncing", &tmp))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let path = dir.join(name);
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("renaming into", &path)(e));
        }
        sync_dir(dir)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

impl Store for FileStore {
    fn put_version(&self, target: &str, version: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.dir(target)?;
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        Self::write_atomic(&dir, &format!("{version}.{EXT}"), bytes)
    }

    fn write_pointer(&self, target: &str, version: &str) -> Result<()> {
        Self::write_atomic(
            &self.dir(target)?,
            POINTER,
            format!("{version}\n").as_bytes(),
        )
    }

    fn remove(&self, target: &str, version: &str) -> Result<()> {
        let path = self.dir(target)?.join(format!("{version}.{EXT}"));
        std::fs::remove_file(&path).map_err(io("removing", &path))
    }

    fn current(&self, target: &str) -> Result<Option<String>> {
        let path = self.dir(target)?.join(POINTER);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading", &path)(e)),
        }
    }

    fn read(&self, target: &str, version: &str) -> Result<Vec<u8>> {
        let path = self.dir(target)?.join(format!("{version}.{EXT}"));
        std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::NoSuchVersion {
                    target: target.into(),
                    version: version.into(),
                }
            } else {
                io("reading", &path)(e)
            }
        })
    }

    fn versions(&self, target: &str) -> Result<Vec<String>> {
        let dir = self.dir(target)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("listing", &dir)(e)),
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(&format!(".{EXT}"))?;
                (stem.starts_with('v')).then(|| stem.to_string())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn targets(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("listing", &self.root)(e)),
        };
        let mut out = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if check_name(&name).is_ok() && e.path().is_dir() && !self.versions(&name)?.is_empty() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_makes_each_version_current_and_prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        assert_eq!(s.current("a").unwrap(), None);
        let v1 = s.publish("a", b"one", 1_000).unwrap();
        let v2 = s.publish("a", b"two", 2_000).unwrap();
        let v3 = s.publish("a", b"three", 3_000).unwrap();
        assert_eq!(
            s.versions("a").unwrap(),
            [v1.clone(), v2.clone(), v3.clone()]
        );
        assert_eq!(s.current("a").unwrap().as_ref(), Some(&v3));
        assert_eq!(s.read("a", &v2).unwrap(), b"two");
        assert_eq!(s.targets().unwrap(), ["a"]);
        // A rollback, then pruning to two keeps the current one even when it is older.
        s.set_current("a", &v1).unwrap();
        assert_eq!(s.prune("a", 2).unwrap(), Vec::<String>::new());
        s.set_current("a", &v3).unwrap();
        assert_eq!(s.prune("a", 2).unwrap(), vec![v1.clone()]);
        assert_eq!(s.versions("a").unwrap(), [v2.clone(), v3.clone()]);
        let e = s.set_current("a", "v0").unwrap_err();
        assert_eq!(e.to_string(), "a: no version v0 in the store");
        assert!(
            std::fs::read_dir(dir.path().join("a"))
                .unwrap()
                .all(|e| { !e.unwrap().file_name().to_string_lossy().starts_with('.') }),
            "no temporary files left"
        );
    }

    #[test]
    fn target_names_that_would_escape_the_root_are_refused() {
        let s = FileStore::new("/nonexistent");
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(
                matches!(s.publish(bad, b"x", 1), Err(StoreError::TargetName(_))),
                "{bad}"
            );
        }
    }

    /// The temporary file `publish` writes `bytes` to first.
    fn tmp_path(root: &Path, target: &str, bytes: &[u8], millis: i64) -> PathBuf {
        let hash = crate::artifact::sha256_hex(bytes);
        root.join(target).join(format!(
            ".v{millis:013}-{}.{EXT}.tmp-{}",
            &hash[..8],
            std::process::id()
        ))
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_fails_clearly_and_leaves_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        let v1 = s.publish("a", b"one", 1_000).unwrap();
        // The write lands on /dev/full, which answers every write with ENOSPC.
        let tmp = tmp_path(dir.path(), "a", b"two", 2_000);
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let e = s.publish("a", b"two", 2_000).unwrap_err().to_string();
        assert!(
            e.starts_with("writing ") && e.contains("No space left on device"),
            "{e}"
        );
        assert_eq!(s.current("a").unwrap(), Some(v1.clone()));
        assert_eq!(s.versions("a").unwrap(), vec![v1.clone()]);
        assert!(
            !tmp.exists() && tmp.symlink_metadata().is_err(),
            "the temporary file is removed"
        );
    }

    #[test]
    fn a_refused_write_fails_clearly_and_leaves_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        let v1 = s.publish("a", b"one", 1_000).unwrap();
        // A directory where the temporary file must go: creating it fails, even as root.
        std::fs::create_dir(tmp_path(dir.path(), "a", b"two", 2_000)).unwrap();
        let e = s.publish("a", b"two", 2_000).unwrap_err().to_string();
        assert!(
            e.starts_with("creating ") && e.contains("a directory"),
            "{e}"
        );
        assert_eq!(s.current("a").unwrap(), Some(v1));
    }

    #[test]
    fn store_urls_name_what_is_wrong() {
        assert!(open("file:///tmp/x").is_ok());
        assert!(open("/tmp/x").is_ok());
        let e = open("file://relative").unwrap_err().to_string();
        assert!(e.contains("absolute path"), "{e}");
        let e = open("gs://bucket").unwrap_err().to_string();
        assert!(e.contains("gs:// is not supported"), "{e}");
    }
}
