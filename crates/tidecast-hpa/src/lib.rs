#![doc = include_str!("../README.md")]

mod controller;
mod spec;

pub use controller::{Controller, NoScaling, Observed};
pub use spec::{Behavior, HpaSpec, Policy, PolicyKind, Rules, Select, Target};
