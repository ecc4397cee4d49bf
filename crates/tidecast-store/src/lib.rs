#![doc = include_str!("../README.md")]

mod artifact;
mod store;

pub use artifact::{Artifact, ArtifactError, FORMAT_VERSION, MAGIC, sha256, sha256_hex};
pub use store::{FileStore, Store, StoreError, open};
