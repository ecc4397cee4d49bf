#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod artifact;
mod s3;
mod store;

pub use artifact::{Artifact, ArtifactError, FORMAT_VERSION, MAGIC, sha256, sha256_hex};
pub use s3::S3Store;
pub use store::{FileStore, Store, StoreError, open};
