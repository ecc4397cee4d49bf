//! Authorization, as the generic delegating authorizer does it (k8s.io/apiserver
//! `plugin/pkg/authorizer/webhook`): `system:masters` always, then a SubjectAccessReview
//! with the request's attributes, allowed and denied answers each cached briefly; an
//! erroring or silent reviewer is an error, never an allow.

use super::cache::TtlCache;
use super::{Reviewer, User};
use crate::path::parse_metric_path;
use crate::{GROUP, VERSION};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use std::sync::Arc;
use std::time::Duration;

/// What a request asks to do, as the SubjectAccessReview names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attributes {
    /// Reading a metric: verb `list` on resource = the metric name in the namespace.
    Metric {
        /// The namespace of the request.
        namespace: String,
        /// The metric name.
        metric: String,
    },
    /// Anything else (discovery, `/metrics`, `/version`): the lowercased method on the
    /// path.
    NonResource {
        /// The request path.
        path: String,
        /// `get`, `post`, ...
        verb: String,
    },
}

impl Attributes {
    /// The attributes of a request: the external metrics path and the KEDA JSON path
    /// (`/values/namespaces/{ns}/{metric}`) read a metric (names unescaped, as the
    /// handler reads them), every other path is non-resource.
    pub fn of(method: &axum::http::Method, path: &str) -> Attributes {
        if let Ok(p) = parse_metric_path(path) {
            return Attributes::Metric {
                namespace: p.namespace,
                metric: p.metric,
            };
        }
        let verb = match *method {
            axum::http::Method::HEAD => "get".to_string(),
            ref m => m.as_str().to_ascii_lowercase(),
        };
        Attributes::NonResource {
            path: path.to_string(),
            verb,
        }
    }

    /// The "forbidden" message kube-apiserver gives for these attributes.
    pub fn forbidden(&self, user: &str, reason: &str) -> String {
        let base = match self {
            Attributes::Metric { namespace, metric } => format!(
                "{metric}.{GROUP} is forbidden: User \"{user}\" cannot list resource \"{metric}\" in API group \"{GROUP}\" in the namespace \"{namespace}\""
            ),
            Attributes::NonResource { path, verb } => {
                format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\"")
            }
        };
        if reason.is_empty() {
            base
        } else {
            format!("{base}: {reason}")
        }
    }

    fn review_spec(&self, user: &User) -> SubjectAccessReviewSpec {
        let (resource_attributes, non_resource_attributes) = match self {
            Attributes::Metric { namespace, metric } => (
                Some(ResourceAttributes {
                    namespace: Some(namespace.clone()),
                    verb: Some("list".into()),
                    group: Some(GROUP.into()),
                    version: Some(VERSION.into()),
                    resource: Some(metric.clone()),
                    ..Default::default()
                }),
                None,
            ),
            Attributes::NonResource { path, verb } => (
                None,
                Some(NonResourceAttributes {
                    path: Some(path.clone()),
                    verb: Some(verb.clone()),
                }),
            ),
        };
        SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            resource_attributes,
            non_resource_attributes,
        }
    }
}

/// An authorization answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// 403, with the reviewer's reason (may be empty).
    Deny(String),
    /// The reviewer failed or did not answer in time: 500, never an allow.
    Error(String),
}

/// How authorization is decided.
#[derive(Debug)]
pub(crate) enum Mode {
    /// SubjectAccessReview against the cluster.
    Review(ReviewAuth),
    /// Every authenticated caller is allowed (standalone use without a cluster: the demo).
    AllowAuthenticated,
}

/// SubjectAccessReviews with their caches.
#[derive(Debug)]
pub(crate) struct ReviewAuth {
    pub(crate) reviewer: Arc<dyn Reviewer>,
    pub(crate) timeout: Duration,
    /// Keyed on who asks for what: every field the review's spec is built from, compared
    /// whole (the webhook authorizer keys on the spec's JSON; this is the same key without
    /// building and serializing a spec per request).
    pub(crate) allowed: TtlCache<ReviewKey, ()>,
    pub(crate) denied: TtlCache<ReviewKey, String>,
}

/// The identity and the attributes a review is about.
pub(crate) type ReviewKey = (User, Attributes);

/// The group allowed without review (the aggregator's availability probe uses it).
pub const ALWAYS_ALLOW_GROUP: &str = "system:masters";

impl Mode {
    pub(crate) async fn authorize(&self, user: &User, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == ALWAYS_ALLOW_GROUP) {
            return Decision::Allow;
        }
        match self {
            Mode::AllowAuthenticated => Decision::Allow,
            Mode::Review(r) => r.review(user, attrs).await,
        }
    }
}

impl ReviewAuth {
    async fn review(&self, user: &User, attrs: &Attributes) -> Decision {
        let key: ReviewKey = (user.clone(), attrs.clone());
        if self.allowed.get(&key).is_some() {
            return Decision::Allow;
        }
        if let Some(why) = self.denied.get(&key) {
            return Decision::Deny(why);
        }
        let review = SubjectAccessReview {
            spec: attrs.review_spec(user),
            ..Default::default()
        };
        let status =
            match tokio::time::timeout(self.timeout, self.reviewer.access_review(review)).await {
                Err(_) => {
                    return Decision::Error(format!(
                        "authorization: the SubjectAccessReview got no answer within {:?}",
                        self.timeout
                    ));
                }
                Ok(Err(e)) => {
                    return Decision::Error(format!("authorization: SubjectAccessReview: {e}"));
                }
                Ok(Ok(s)) => s,
            };
        // Allowed and denied both set is a deny, as in the webhook authorizer.
        if status.allowed && status.denied != Some(true) {
            self.allowed.insert(key, ());
            Decision::Allow
        } else {
            let why = status
                .reason
                .filter(|r| !r.is_empty())
                .or(status
                    .evaluation_error
                    .map(|e| format!("evaluation error: {e}")))
                .unwrap_or_default();
            self.denied.insert(key, why.clone());
            Decision::Deny(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn metric_paths_are_list_on_the_metric_and_others_non_resource() {
        let m = |p: &str| Attributes::of(&Method::GET, p);
        assert_eq!(
            m("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/predicted_rps"),
            Attributes::Metric {
                namespace: "shop".into(),
                metric: "predicted_rps".into()
            }
        );
        assert_eq!(
            m("/values/namespaces/shop/predicted_rps"),
            Attributes::Metric {
                namespace: "shop".into(),
                metric: "predicted_rps".into()
            }
        );
        for p in [
            "/apis",
            "/apis/external.metrics.k8s.io/v1beta1",
            "/metrics",
            "/version",
            "/values/namespaces/shop/a/b",
        ] {
            assert_eq!(
                m(p),
                Attributes::NonResource {
                    path: p.into(),
                    verb: "get".into()
                }
            );
        }
        assert_eq!(
            Attributes::of(&Method::POST, "/metrics"),
            Attributes::NonResource {
                path: "/metrics".into(),
                verb: "post".into()
            }
        );
    }

    #[test]
    fn forbidden_messages_read_as_kube_apiserver_writes_them() {
        let a = Attributes::Metric {
            namespace: "shop".into(),
            metric: "rps".into(),
        };
        assert_eq!(
            a.forbidden("alice", ""),
            "rps.external.metrics.k8s.io is forbidden: User \"alice\" cannot list resource \"rps\" in API group \"external.metrics.k8s.io\" in the namespace \"shop\""
        );
        let n = Attributes::NonResource {
            path: "/metrics".into(),
            verb: "get".into(),
        };
        assert_eq!(
            n.forbidden("bob", "no RBAC"),
            "forbidden: User \"bob\" cannot get path \"/metrics\": no RBAC"
        );
    }

    #[test]
    fn the_review_spec_carries_the_user_and_the_attributes() {
        let user = User::authenticated("u".into(), "id".into(), vec!["g".into()]);
        let spec = Attributes::Metric {
            namespace: "ns".into(),
            metric: "m".into(),
        }
        .review_spec(&user);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "user": "u", "uid": "id", "groups": ["g", "system:authenticated"],
                "resourceAttributes": {"namespace": "ns", "verb": "list",
                    "group": "external.metrics.k8s.io", "version": "v1beta1", "resource": "m"}
            })
        );
    }
}
