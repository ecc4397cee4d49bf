//! How the models prepare a history and which space they fit in: shared by every model so
//! none reaches into another's internals.

use tidecast_core::{SECS_PER_MINUTE, Series};

/// Gaps up to this long are bridged by interpolation before fitting: a missed scrape or two
/// is not an outage, and every model should see the same bridged series.
pub(crate) const BRIDGE_SECS: i64 = 15 * SECS_PER_MINUTE;

/// The history with its short gaps bridged ([`BRIDGE_SECS`]).
pub(crate) fn bridged(history: &Series) -> Series {
    history.bridged(BRIDGE_SECS)
}

/// The space a model works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Space {
    /// The values themselves: additive seasonal changes.
    Linear,
    /// `ln(1 + y)`: changes become ratios, so a seasonal swing scales with the level
    /// (multiplicative seasonality, as in bursty request volumes). Non-negative series only.
    Log,
}

impl Space {
    /// A value mapped into the space.
    pub(crate) fn forward(self, v: f64) -> f64 {
        match self {
            Space::Linear => v,
            Space::Log => v.ln_1p(),
        }
    }
    /// A value mapped back from the space.
    pub(crate) fn back(self, v: f64) -> f64 {
        match self {
            Space::Linear => v,
            Space::Log => v.exp_m1(),
        }
    }
    /// The prefix naming a part fitted in this space, for a model's name.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Space::Log => "log-space ",
            Space::Linear => "",
        }
    }
}

/// Whether every observed value is at least 0 (then forecasts are floored at 0, and the
/// log space applies).
pub(crate) fn non_negative(y: &[f64]) -> bool {
    y.iter().filter(|v| !v.is_nan()).all(|v| *v >= 0.0)
}
