#![doc = include_str!("../README.md")]

mod controller;
mod manifest;
mod replay;
mod spec;

pub use controller::{Controller, NoScaling, Observed};
pub use manifest::{ManifestError, parse_quantity};
pub use replay::{Cluster, Nodes, Outcome, replay};
pub use spec::{Behavior, HpaSpec, Policy, PolicyKind, Rules, Select, Target};
