#![doc = include_str!("../README.md")]

mod artifact;
mod s3;
mod store;

pub use artifact::{Artifact, ArtifactError, FORMAT_VERSION, MAGIC, sha256, sha256_hex};
pub use s3::S3Store;
pub use store::{FileStore, Store, StoreError, open};
