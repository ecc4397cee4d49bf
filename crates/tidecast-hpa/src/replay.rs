//! The HPA driving a Deployment over a recorded load: a sync every period, pods that serve
//! only once started (and, optionally, once a node is provisioned for them), and what that
//! costs and misses.

use crate::controller::{Controller, Observed};
use crate::spec::HpaSpec;

/// How the cluster turns a replica count into serving pods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cluster {
    /// The HPA controller's sync period in seconds (`--horizontal-pod-autoscaler-sync-period`).
    pub sync_secs: i64,
    /// From pod creation (on a node with room) to Ready, in seconds.
    pub startup_secs: i64,
    /// Nodes, when pods need them: pods a node holds and how long a new node takes. `None`:
    /// room for every pod at once.
    pub nodes: Option<Nodes>,
}

/// The cluster autoscaler, as it reacts: a node is added only when a pod is pending, and
/// removed once it has been empty for `unneeded_secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nodes {
    /// Pods per node.
    pub pods_per_node: usize,
    /// From a pending pod to a node that can run it, in seconds.
    pub provision_secs: i64,
    /// How long an empty node stays (`--scale-down-unneeded-time`, 600 s by default).
    pub unneeded_secs: i64,
}

impl Default for Cluster {
    /// A 15 s sync, pods ready 180 s after creation, room for every pod.
    fn default() -> Self {
        Self {
            sync_secs: 15,
            startup_secs: 180,
            nodes: None,
        }
    }
}

/// What a replay measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Minutes during which the load was above the ready pods' capacity.
    pub breach_minutes: f64,
    /// The load above capacity, integrated over time (load x minutes).
    pub unserved: f64,
    /// Pods existing (ready or not) times hours: what the capacity cost.
    pub pod_hours: f64,
    /// Syncs that raised the replica count.
    pub scale_ups: usize,
    /// Syncs that lowered it.
    pub scale_downs: usize,
    /// At each sync: (Unix second, replicas asked for, pods ready).
    pub replicas: Vec<(i64, i32, i32)>,
}

/// One pod: when it was created and when it turns Ready (`None`: still waiting for a node).
#[derive(Debug, Clone, Copy)]
struct Pod {
    created: i64,
    ready_at: Option<i64>,
}

/// The Deployment's pods and the nodes under them.
#[derive(Debug)]
struct Fleet {
    cluster: Cluster,
    pods: Vec<Pod>,
    /// Nodes: when each turns usable, and since when it has been empty.
    nodes: Vec<(i64, Option<i64>)>,
}

impl Fleet {
    fn new(cluster: Cluster, replicas: i32, t0: i64) -> Self {
        let pods = (0..replicas.max(0))
            .map(|_| Pod {
                created: t0,
                ready_at: Some(t0),
            })
            .collect::<Vec<_>>();
        let nodes = match cluster.nodes {
            Some(n) => vec![(t0, None); pods.len().div_ceil(n.pods_per_node)],
            None => Vec::new(),
        };
        Self {
            cluster,
            pods,
            nodes,
        }
    }

    fn ready(&self, now: i64) -> i32 {
        self.pods
            .iter()
            .filter(|p| p.ready_at.is_some_and(|r| r <= now))
            .count() as i32
    }

    /// Create or delete pods to `replicas`: deletions take pods waiting for a node first,
    /// then those not ready, then the newest (the ReplicaSet's order).
    fn scale(&mut self, now: i64, replicas: i32) {
        let want = replicas.max(0) as usize;
        while self.pods.len() < want {
            self.pods.push(Pod {
                created: now,
                ready_at: None,
            });
        }
        if self.pods.len() > want {
            self.pods.sort_by_key(|p| {
                (
                    p.ready_at.is_some(),
                    p.ready_at.is_some_and(|r| r <= now),
                    std::cmp::Reverse(p.created),
                )
            });
            let drop = self.pods.len() - want;
            self.pods.drain(..drop);
        }
        self.place(now);
    }

    /// Give pending pods a node (or every pod room, without nodes), provision nodes for the
    /// rest, and retire nodes empty for long enough.
    fn place(&mut self, now: i64) {
        let startup = self.cluster.startup_secs;
        let Some(n) = self.cluster.nodes else {
            for p in self.pods.iter_mut().filter(|p| p.ready_at.is_none()) {
                p.ready_at = Some(now + startup);
            }
            return;
        };
        let usable = self.nodes.iter().filter(|(at, _)| *at <= now).count();
        let mut room = usable * n.pods_per_node;
        let placed = self.pods.iter().filter(|p| p.ready_at.is_some()).count();
        room = room.saturating_sub(placed);
        for p in self.pods.iter_mut().filter(|p| p.ready_at.is_none()) {
            if room == 0 {
                break;
            }
            p.ready_at = Some(now + startup);
            room -= 1;
        }
        let pending = self.pods.iter().filter(|p| p.ready_at.is_none()).count();
        let coming = self.nodes.iter().filter(|(at, _)| *at > now).count() * n.pods_per_node;
        for _ in 0..pending.saturating_sub(coming).div_ceil(n.pods_per_node) {
            self.nodes.push((now + n.provision_secs, None));
        }
        self.retire_nodes(now, n);
    }

    /// Nodes beyond what the pods need are marked empty, and removed after `unneeded_secs`.
    fn retire_nodes(&mut self, now: i64, n: Nodes) {
        let needed = self.pods.len().div_ceil(n.pods_per_node);
        let mut kept = 0;
        for node in &mut self.nodes {
            kept += 1;
            if kept <= needed {
                node.1 = None;
            } else if node.1.is_none() {
                node.1 = Some(now);
            }
        }
        self.nodes
            .retain(|(_, empty)| empty.is_none_or(|since| now - since < n.unneeded_secs));
    }
}

/// The load at `t`: the newest sample at or before it (the first before the trace starts).
fn load_at(trace: &[(i64, f64)], t: i64) -> f64 {
    let k = trace.partition_point(|(ts, _)| *ts <= t);
    trace[k.saturating_sub(1)].1
}

/// Replay `hpa` from `from` to `to` over the load `trace` (Unix seconds, ascending), one pod
/// serving `pod_capacity`, starting with `initial` replicas all ready; `metric(t)` is what
/// the HPA reads at a sync (`Err`: the metric could not be read).
pub fn replay(
    hpa: &HpaSpec,
    cluster: Cluster,
    trace: &[(i64, f64)],
    (from, to): (i64, i64),
    pod_capacity: f64,
    initial: i32,
    mut metric: impl FnMut(i64) -> Result<f64, String>,
) -> Outcome {
    let mut controller = Controller::new(hpa.clone());
    let mut fleet = Fleet::new(cluster, initial, from);
    let mut replicas = initial;
    let mut out = Outcome::default();
    if trace.is_empty() {
        return out;
    }
    let dt = cluster.sync_secs.max(1);
    let mut t = from;
    while t < to {
        fleet.place(t);
        let observed = Observed {
            spec_replicas: replicas,
            status_replicas: fleet.pods.len() as i32,
            ready: fleet.ready(t),
        };
        if let Ok(next) = controller.reconcile(t, observed, metric(t)) {
            out.scale_ups += usize::from(next > replicas);
            out.scale_downs += usize::from(next < replicas);
            if next != replicas {
                fleet.scale(t, next);
                replicas = next;
            }
        }
        // The interval until the next sync, at the load and capacity of its start.
        let span = dt.min(to - t) as f64 / 60.0;
        let ready = fleet.ready(t);
        let short = load_at(trace, t) - f64::from(ready) * pod_capacity;
        if short > 0.0 {
            out.breach_minutes += span;
            out.unserved += short * span;
        }
        out.pod_hours += fleet.pods.len() as f64 * span / 60.0;
        out.replicas.push((t, replicas, ready));
        t += dt;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Behavior, Target};

    fn hpa() -> HpaSpec {
        let mut h = HpaSpec::new(1, 100, Target::AverageValue(100.0));
        h.behavior = Some(Behavior::default());
        h
    }

    /// Load 500 until 10:00, then 2,000: a step at t = 3600.
    fn step_trace() -> Vec<(i64, f64)> {
        (0..7200)
            .step_by(60)
            .map(|t| (t, if t < 3600 { 500.0 } else { 2000.0 }))
            .collect()
    }

    #[test]
    fn a_steady_load_settles_at_its_pods_and_is_always_served() {
        let trace: Vec<(i64, f64)> = (0..3600).step_by(60).map(|t| (t, 450.0)).collect();
        let o = replay(
            &hpa(),
            Cluster::default(),
            &trace,
            (0, 3600),
            100.0,
            5,
            |t| Ok(load_at(&trace, t)),
        );
        assert_eq!((o.breach_minutes, o.scale_ups, o.scale_downs), (0.0, 0, 0));
        assert!((o.pod_hours - 5.0).abs() < 1e-9, "{}", o.pod_hours);
    }

    #[test]
    fn a_reactive_hpa_breaches_for_the_pod_startup_and_an_oracle_does_not() {
        let trace = step_trace();
        let cluster = Cluster::default();
        let reactive = replay(&hpa(), cluster, &trace, (0, 7200), 100.0, 5, |t| {
            Ok(load_at(&trace, t))
        });
        // From the step until the first new pods are ready: 180 s start-up, the first sync
        // at the step itself.
        assert!(
            (3.0..=4.0).contains(&reactive.breach_minutes),
            "reactive breaches {} minutes",
            reactive.breach_minutes
        );
        // An oracle reads the peak 5 minutes ahead: pods are ready when the load arrives.
        let oracle = replay(&hpa(), cluster, &trace, (0, 7200), 100.0, 5, |t| {
            Ok(load_at(&trace, t).max(load_at(&trace, t + 300)))
        });
        assert_eq!(oracle.breach_minutes, 0.0);
        assert!(oracle.pod_hours > reactive.pod_hours);
        for (_, replicas, ready) in &oracle.replicas {
            assert!((1..=100).contains(replicas) && *ready <= *replicas);
        }
    }

    #[test]
    fn pods_waiting_for_a_node_serve_only_after_it_is_provisioned() {
        let trace = step_trace();
        let with_nodes = Cluster {
            nodes: Some(Nodes {
                pods_per_node: 5,
                provision_secs: 120,
                unneeded_secs: 600,
            }),
            ..Cluster::default()
        };
        let reactive = |cluster| {
            replay(&hpa(), cluster, &trace, (0, 7200), 100.0, 5, |t| {
                Ok(load_at(&trace, t))
            })
        };
        let (plain, noded) = (reactive(Cluster::default()), reactive(with_nodes));
        // Two more minutes of breach: the node first, then the pods' start-up.
        assert!(
            (noded.breach_minutes - plain.breach_minutes - 2.0).abs() <= 0.25,
            "{} vs {}",
            noded.breach_minutes,
            plain.breach_minutes
        );
    }

    #[test]
    fn an_unreadable_metric_freezes_the_replicas() {
        let trace = step_trace();
        let o = replay(
            &hpa(),
            Cluster::default(),
            &trace,
            (0, 7200),
            100.0,
            5,
            |_| Err("unavailable".into()),
        );
        assert_eq!((o.scale_ups, o.scale_downs), (0, 0));
        assert!(
            (o.breach_minutes - 60.0).abs() < 1e-9,
            "{}",
            o.breach_minutes
        );
    }
}
