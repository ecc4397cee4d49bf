//! What an `autoscaling/v2` HorizontalPodAutoscaler says about scaling on one External
//! metric, with the controller's defaults.

/// The metric's target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `target.type: Value`: the metric's total against this value, times the ready pods.
    Value(f64),
    /// `target.type: AverageValue`: pods wanted = total / this value.
    AverageValue(f64),
}

/// How a rate-limiting policy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A number of pods per period.
    Pods,
    /// A percentage of the pods at the period's start.
    Percent,
}

/// One `scaleUp`/`scaleDown` policy: at most `value` pods or percent per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Pods or percent.
    pub kind: PolicyKind,
    /// How many.
    pub value: i32,
    /// Over how long, in seconds.
    pub period_secs: i64,
}

/// Which policy limits a direction when there are several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Select {
    /// The policy allowing the largest change (the default).
    #[default]
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction of `spec.behavior`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// `stabilizationWindowSeconds`; `None`: the controller's default for the direction.
    pub stabilization_secs: Option<i64>,
    /// `selectPolicy`.
    pub select: Select,
    /// `policies`.
    pub policies: Vec<Policy>,
    /// `tolerance` (Kubernetes 1.33+); `None`: the controller's flag.
    pub tolerance: Option<f64>,
}

impl Rules {
    /// The API server's defaults for `scaleUp` when `behavior` is set: no window, 4 pods or
    /// 100 % per 15 s, whichever is more.
    pub fn default_up() -> Self {
        Self {
            stabilization_secs: Some(0),
            select: Select::Max,
            policies: vec![
                Policy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_secs: 15,
                },
                Policy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_secs: 15,
                },
            ],
            tolerance: None,
        }
    }

    /// The defaults for `scaleDown`: the controller's 300 s window, 100 % per 15 s.
    pub fn default_down() -> Self {
        Self {
            stabilization_secs: None,
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period_secs: 15,
            }],
            tolerance: None,
        }
    }
}

/// `spec.behavior`, both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    /// `scaleUp`.
    pub up: Rules,
    /// `scaleDown`.
    pub down: Rules,
}

impl Default for Behavior {
    /// `behavior: {}`: every field defaulted.
    fn default() -> Self {
        Self {
            up: Rules::default_up(),
            down: Rules::default_down(),
        }
    }
}

/// The HPA as the controller runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    /// `minReplicas` (default 1).
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// The External metric's target.
    pub target: Target,
    /// `spec.behavior`; `None` runs the legacy path (no rate policies, a fixed 2x/4 limit).
    pub behavior: Option<Behavior>,
    /// `--horizontal-pod-autoscaler-tolerance` (default 0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` in seconds (default 300).
    pub downscale_stabilization_secs: i64,
}

impl HpaSpec {
    /// An HPA with the controller's defaults and no `behavior`.
    pub fn new(min_replicas: i32, max_replicas: i32, target: Target) -> Self {
        Self {
            min_replicas,
            max_replicas,
            target,
            behavior: None,
            tolerance: 0.1,
            downscale_stabilization_secs: 300,
        }
    }
}
