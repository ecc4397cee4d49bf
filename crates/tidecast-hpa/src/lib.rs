#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod controller;
mod manifest;
mod replay;
mod spec;

pub use controller::{Controller, NoScaling, Observed};
pub use manifest::{ManifestError, parse_quantity};
pub use replay::{Cluster, Nodes, Outcome, replay};
pub use spec::{Behavior, HpaSpec, Policy, PolicyKind, Rules, Select, Target};
