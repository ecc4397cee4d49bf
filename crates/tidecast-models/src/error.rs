//! The models' errors: every way a fit or a forecast can fail, each naming what was wrong.

/// Errors from fitting and forecasting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The history has too few observations for the model.
    #[error("not enough data: {model} needs {needed}, got {got}")]
    NotEnoughData {
        /// The model that refused.
        model: &'static str,
        /// What it needs, in words.
        needed: String,
        /// What the history has, in words.
        got: String,
    },
    /// The training window before a refit point holds no observation.
    #[error("no observations in the {window}s before the refit point {at}")]
    EmptyWindow {
        /// The window in seconds.
        window: i64,
        /// The refit point (RFC 3339).
        at: String,
    },
    /// A quantile level outside `(0, 1)`.
    #[error("quantile {0} is outside (0, 1)")]
    Quantile(f64),
    /// The seasonal naive model's season is not a whole number of steps.
    #[error("a {step}s step does not divide the {season}s season")]
    SeasonNotWhole {
        /// The series' step in seconds.
        step: i64,
        /// The season in seconds.
        season: i64,
    },
    /// An aggregation the grid cannot be split into.
    #[error(
        "cannot aggregate a {step}s step into {aggregate}s means refitted every {refit_every}s \
         (the aggregate must be a multiple of the step and divide the refit interval)"
    )]
    AggregateNotWhole {
        /// The series' step in seconds.
        step: i64,
        /// The aggregate in seconds.
        aggregate: i64,
        /// The refit interval in seconds.
        refit_every: i64,
    },
    /// Backtest origins out of order.
    #[error("backtest origins must ascend")]
    OriginsNotAscending,
    /// A backtest origin before the first sample.
    #[error("origin {0} is before the first sample")]
    OriginBeforeData(String),
    /// A model name the CLI or config does not know.
    #[error("unknown model {given:?} (expected one of {expected})")]
    UnknownModel {
        /// The name given.
        given: String,
        /// The known names, comma-separated.
        expected: String,
    },
    /// The lag regression's normal equations could not be solved.
    #[error("the lag regression's solve failed at horizon {horizon}")]
    Solve {
        /// Steps ahead.
        horizon: usize,
        /// linfa's error.
        #[source]
        source: linfa_linear::LinearError<f64>,
    },
    /// An error from the domain types (series, calendar).
    #[error(transparent)]
    Core(tidecast_core::Error),
}

/// Result with the models' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for tidecast_core::Error {
    /// Through the [`tidecast_core::Fit`] / [`tidecast_core::Predict`] traits, a model error
    /// travels boxed (its source chain intact); a core error comes back as itself.
    fn from(e: Error) -> Self {
        match e {
            Error::Core(e) => e,
            e => tidecast_core::Error::Model(Box::new(e)),
        }
    }
}

impl From<tidecast_core::Error> for Error {
    /// The inverse of the conversion above: a model error that travelled through the core
    /// traits is unboxed back into itself.
    fn from(e: tidecast_core::Error) -> Self {
        match e {
            tidecast_core::Error::Model(b) => match b.downcast::<Error>() {
                Ok(e) => *e,
                Err(b) => Error::Core(tidecast_core::Error::Model(b)),
            },
            e => Error::Core(e),
        }
    }
}
