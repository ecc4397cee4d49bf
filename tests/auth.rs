//! Delegated authentication and authorization, end to end: the real binary serving over
//! TLS on 127.0.0.1, its settings, TokenReviews and SubjectAccessReviews coming from a fake
//! kube-apiserver on loopback (TLS, the real JSON; no kube-apiserver can run here) that
//! the server's real kube client talks to; curl plays the aggregator (front-proxy
//! certificate and `X-Remote-*` headers) and kubectl the direct callers (client
//! certificates and tokens). Each test names the failure path it guards.

use std::process::{Command, Stdio};
use std::time::Duration;
use tidecast_testing::{
    Access, Binary, Ca, CertFiles, Decision, Endpoint, FakeApiServer, Pki, Running, json, poll,
    user_info,
};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));
const PATIENCE: Duration = Duration::from_secs(60);

const DISCOVERY: &str = "/apis/external.metrics.k8s.io/v1beta1";
const METRIC: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/team-a/m";

/// The client certificate's user and groups (CN and Os).
const CERT_USER: &str = "bob";
const CERT_GROUPS: [&str; 2] = ["team-a", "developers"];

/// A fake apiserver with the PKI's ConfigMap, and tidecast serving one target (metric `m`,
/// namespaces `team-a` and `team-b`) whose Prometheus is unreachable: a request that gets
/// through the gate is answered 503 (no data yet), one that does not, 401/403/500.
struct Cluster {
    api: FakeApiServer,
    pki: Pki,
    dir: tempfile::TempDir,
    port: u16,
    server: Running,
}

impl Cluster {
    fn start() -> Cluster {
        Self::start_with("", |api, pki| {
            api.set_configmap(pki.configmap_data());
        })
    }

    /// With `auth_extra` added to the `auth:` map and `prepare` run on the fake first.
    fn start_with(auth_extra: &str, prepare: impl FnOnce(&FakeApiServer, &Pki)) -> Cluster {
        let (api, pki, dir, server, port) = spawn(auth_extra, prepare);
        let c = Cluster {
            api,
            pki,
            dir,
            port,
            server,
        };
        poll(PATIENCE, Duration::from_millis(200), || {
            (c.curl("/healthz", None, &[]).0 == 200).then_some(())
        })
        .unwrap_or_else(|| panic!("no listener; logs: {:?}", c.server.stderr_so_far()));
        c
    }

    /// `GET path` with curl over HTTP/2: (code, body). `cert` is the client certificate to
    /// present; 0 when no answer came within curl's bound.
    fn curl(&self, path: &str, cert: Option<&CertFiles>, headers: &[&str]) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--http2", "--max-time", "15", "--cacert"])
            .arg(&self.pki.serving_ca);
        if let Some(c) = cert {
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        for h in headers {
            cmd.arg("-H").arg(h);
        }
        cmd.args(["-w", "\n%{http_code}"])
            .arg(format!("https://127.0.0.1:{}{path}", self.port));
        let out = cmd.output().expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// As the aggregator: the front-proxy certificate and the identity headers.
    fn proxied(&self, path: &str, user: &str, groups: &[&str]) -> (u16, String) {
        let mut headers = vec![format!("X-Remote-User: {user}")];
        headers.extend(groups.iter().map(|g| format!("X-Remote-Group: {g}")));
        let h: Vec<&str> = headers.iter().map(String::as_str).collect();
        self.curl(path, Some(&self.pki.front_proxy), &h)
    }

    /// kubectl straight at the server with `auth` flags: (success, stdout, stderr).
    fn kubectl(&self, auth: &[&str], args: &[&str]) -> (bool, String, String) {
        let out = Command::new("timeout")
            .args(["30", "kubectl", "--server"])
            .arg(format!("https://127.0.0.1:{}", self.port))
            .arg("--certificate-authority")
            .arg(&self.pki.serving_ca)
            .args(auth)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn client_cert_flags(&self) -> Vec<String> {
        vec![
            "--client-certificate".into(),
            self.pki.client.cert.display().to_string(),
            "--client-key".into(),
            self.pki.client.key.display().to_string(),
        ]
    }

    fn reviews(&self) -> Vec<Access> {
        self.api
            .requests_to(Endpoint::SubjectAccessReview)
            .into_iter()
            .filter_map(|r| {
                let spec = r.body?.get("spec")?.clone();
                Some(Access::from_spec(serde_json::from_value(spec).ok()?))
            })
            .collect()
    }
}

/// Start the fake and the server; the server's exit is not waited for.
fn spawn(
    auth_extra: &str,
    prepare: impl FnOnce(&FakeApiServer, &Pki),
) -> (FakeApiServer, Pki, tempfile::TempDir, Running, u16) {
    let api = FakeApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(
        &dir.path().join("pki"),
        CERT_USER,
        &CERT_GROUPS,
        "front-proxy-client",
    );
    prepare(&api, &pki);
    api.kubeconfig(&dir.path().join("kubeconfig"));
    let port = tidecast_testing::free_port();
    let nothing = tidecast_testing::free_port();
    let cfg = dir.path().join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{port}\nprometheus: {{url: \"http://127.0.0.1:{nothing}\"}}\n\
             targets:\n  - {{name: a, metric: m, query: 'sum(up)', namespaces: [team-a, team-b]}}\n\
             tls: {{cert_file: pki/serving.crt, key_file: pki/serving.key}}\n\
             auth: {{kubeconfig: kubeconfig, review_timeout: 1s{auth_extra}}}\n"
        ),
    )
    .unwrap();
    let server = TIDECAST.spawn(&["serve", "--config", cfg.to_str().unwrap()]);
    (api, pki, dir, server, port)
}

/// The fake allows `user` to list metric `m` in namespace `team-a` and nothing else.
fn allow_metric_m_in_team_a(api: &FakeApiServer, user: &'static str) {
    api.authorize(move |a| {
        if a.user == user && a.resource_request && a.resource == "m" && a.namespace == "team-a" {
            Decision::Allow("rbac: metrics-reader".into())
        } else if !a.resource_request && a.path.starts_with("/api") {
            // The default system:discovery binding.
            Decision::Allow("rbac: system:discovery".into())
        } else {
            Decision::NoOpinion(String::new())
        }
    });
}

fn status(body: &str) -> serde_json::Value {
    let v = json(body);
    assert_eq!(v["kind"], "Status", "{body}");
    v
}

fn message(body: &str) -> String {
    status(body)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Through the gate: the target has no data (unreachable Prometheus), so 503.
const THROUGH: u16 = 503;

#[test]
fn no_credentials_are_refused_with_401_and_only_the_health_paths_answer() {
    let c = Cluster::start();
    for path in [DISCOVERY, METRIC, "/metrics", "/apis", "/version"] {
        let (code, body) = c.curl(path, None, &[]);
        assert_eq!(code, 401, "{path}: {body}");
        assert_eq!(status(&body)["reason"], "Unauthorized");
        assert!(message(&body).contains("anonymous"), "{body}");
    }
    for path in ["/healthz", "/livez"] {
        assert_eq!(c.curl(path, None, &[]), (200, "ok".into()), "{path}");
    }
    let (_, readyz) = c.curl("/readyz", None, &[]);
    assert!(
        readyz.contains(
            "[+] authentication: configmap kube-system/extension-apiserver-authentication"
        ),
        "{readyz}"
    );
    assert!(
        c.api.requests_to(Endpoint::SubjectAccessReview).is_empty()
            && c.api.requests_to(Endpoint::TokenReview).is_empty(),
        "anonymous requests reach no reviewer"
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_401_even_with_identity_headers() {
    let c = Cluster::start();
    let (code, body) = c.curl(
        METRIC,
        Some(&c.pki.other),
        &[
            "X-Remote-User: system:admin",
            "X-Remote-Group: system:masters",
        ],
    );
    assert_eq!(code, 401, "{body}");
    let m = message(&body);
    assert!(
        m.contains("front-proxy certificate") && m.contains("client certificate"),
        "{m}"
    );
}

#[test]
fn a_front_proxy_certificate_whose_name_is_not_allowed_is_refused_with_401() {
    let c = Cluster::start();
    let impostor = c
        .pki
        .issue(Ca::FrontProxy, "not-the-proxy", "not-the-proxy", &[]);
    let (code, body) = c.curl(
        DISCOVERY,
        Some(&impostor),
        &[
            "X-Remote-User: system:admin",
            "X-Remote-Group: system:masters",
        ],
    );
    assert_eq!(code, 401, "{body}");
    assert!(
        message(&body).contains("cn=not-the-proxy is not in the allowed list"),
        "{body}"
    );
}

#[test]
fn a_valid_front_proxy_names_the_user_groups_and_extra_the_review_sees() {
    let c = Cluster::start();
    allow_metric_m_in_team_a(&c.api, "alice");
    let (code, body) = c.curl(
        METRIC,
        Some(&c.pki.front_proxy),
        &[
            "X-Remote-User: alice",
            "X-Remote-Group: team-a",
            "X-Remote-Group: oncall",
            "X-Remote-Extra-Scopes: read",
        ],
    );
    assert_eq!(code, THROUGH, "{body}");
    let reviews = c.reviews();
    let r = reviews.last().expect("a SubjectAccessReview");
    assert_eq!(r.user, "alice");
    assert_eq!(r.groups, ["team-a", "oncall", "system:authenticated"]);
    assert_eq!(r.extra.get("scopes"), Some(&vec!["read".to_string()]));
    assert!(r.resource_request);
    assert_eq!(
        (r.verb.as_str(), r.group.as_str(), r.version.as_str()),
        ("list", "external.metrics.k8s.io", "v1beta1")
    );
    assert_eq!((r.resource.as_str(), r.namespace.as_str()), ("m", "team-a"));
    // Discovery is a non-resource review.
    assert_eq!(c.proxied(DISCOVERY, "alice", &[]).0, 200);
    let r = c.reviews().pop().unwrap();
    assert!(!r.resource_request);
    assert_eq!((r.verb.as_str(), r.path.as_str()), ("get", DISCOVERY));
    // Another team's user is refused by the review.
    let (code, body) = c.proxied(METRIC, "mallory", &["team-b"]);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        message(&body),
        "m.external.metrics.k8s.io is forbidden: User \"mallory\" cannot list resource \"m\" in API group \"external.metrics.k8s.io\" in the namespace \"team-a\""
    );
}

#[test]
fn x_remote_headers_without_a_front_proxy_certificate_are_ignored() {
    let c = Cluster::start();
    allow_metric_m_in_team_a(&c.api, "system:admin");
    // No certificate: anonymous, whatever the headers claim.
    let (code, body) = c.curl(
        METRIC,
        None,
        &[
            "X-Remote-User: system:admin",
            "X-Remote-Group: system:masters",
        ],
    );
    assert_eq!(code, 401, "{body}");
    // An ordinary client certificate: the certificate's user, not the headers'.
    let (code, body) = c.curl(
        METRIC,
        Some(&c.pki.client),
        &[
            "X-Remote-User: system:admin",
            "X-Remote-Group: system:masters",
        ],
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        message(&body).contains(&format!("User \"{CERT_USER}\"")),
        "{body}"
    );
    let r = c
        .reviews()
        .pop()
        .expect("a review of the certificate's user");
    assert_eq!(r.user, CERT_USER);
    assert_eq!(r.groups, ["team-a", "developers", "system:authenticated"]);
}

#[test]
fn a_front_proxy_header_name_other_than_the_configured_one_is_not_trusted() {
    let c = Cluster::start_with("", |api, pki| {
        let mut data = pki.configmap_data();
        data.insert(
            "requestheader-username-headers".into(),
            r#"["X-Tidecast-User"]"#.into(),
        );
        api.set_configmap(data);
    });
    allow_metric_m_in_team_a(&c.api, "alice");
    // The conventional name is not the configured one: not handled, and the front-proxy
    // certificate is no client certificate: 401.
    let (code, body) = c.proxied(METRIC, "alice", &[]);
    assert_eq!(code, 401, "{body}");
    let (code, body) = c.curl(
        METRIC,
        Some(&c.pki.front_proxy),
        &["X-Forwarded-User: alice"],
    );
    assert_eq!(code, 401, "{body}");
    // The configured name from the ConfigMap is honoured.
    let (code, body) = c.curl(
        METRIC,
        Some(&c.pki.front_proxy),
        &["X-Tidecast-User: alice"],
    );
    assert_eq!(code, THROUGH, "{body}");
}

#[test]
fn the_aggregators_probe_as_system_masters_needs_no_review() {
    let c = Cluster::start();
    let (code, body) = c.proxied(DISCOVERY, "system:kube-aggregator", &["system:masters"]);
    assert_eq!(code, 200, "{body}");
    assert!(c.api.requests_to(Endpoint::SubjectAccessReview).is_empty());
}

#[test]
fn kubectl_with_a_client_certificate_is_authorized_through_the_review() {
    let c = Cluster::start();
    allow_metric_m_in_team_a(&c.api, CERT_USER);
    let flags = c.client_cert_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (ok, out, err) = c.kubectl(
        &flags,
        &["api-resources", "--api-group=external.metrics.k8s.io"],
    );
    assert!(ok && out.lines().any(|l| l.starts_with("m ")), "{out}{err}");
    let (ok, _, err) = c.kubectl(&flags, &["get", "--raw", METRIC]);
    assert!(
        !ok && err.contains("ServiceUnavailable"),
        "through the gate: {err}"
    );
    let r = c.reviews().pop().unwrap();
    assert_eq!(r.user, CERT_USER);
    assert_eq!(r.groups, ["team-a", "developers", "system:authenticated"]);
}

#[test]
fn a_valid_token_is_allowed_and_its_review_is_cached() {
    let c = Cluster::start();
    c.api.add_token("t-alice", user_info("alice", &["team-a"]));
    allow_metric_m_in_team_a(&c.api, "alice");
    for _ in 0..3 {
        let (ok, out, err) = c.kubectl(&["--token", "t-alice"], &["get", "--raw", DISCOVERY]);
        assert!(ok, "{err}");
        assert!(out.contains("APIResourceList"), "{out}");
    }
    let reviews = c.api.requests_to(Endpoint::TokenReview);
    assert_eq!(
        reviews.len(),
        1,
        "one TokenReview within the cache TTL: {reviews:?}"
    );
    assert_eq!(
        reviews[0].body.as_ref().unwrap()["spec"]["token"],
        "t-alice"
    );
    // (kubectl also reads /version once.)
    let discovery = c
        .reviews()
        .into_iter()
        .filter(|a| a.path == DISCOVERY)
        .count();
    assert_eq!(discovery, 1, "one SubjectAccessReview within the cache TTL");
}

#[test]
fn a_valid_token_denied_by_the_review_is_403() {
    let c = Cluster::start();
    c.api.add_token("t-eve", user_info("eve", &["team-b"]));
    allow_metric_m_in_team_a(&c.api, "alice");
    let (code, body) = c.curl(METRIC, None, &["Authorization: Bearer t-eve"]);
    assert_eq!(code, 403, "{body}");
    assert!(
        message(&body).contains("User \"eve\" cannot list resource \"m\""),
        "{body}"
    );
    let (ok, _, err) = c.kubectl(&["--token", "t-eve"], &["get", "--raw", METRIC]);
    assert!(!ok && err.contains("forbidden"), "{err}");
}

#[test]
fn an_invalid_token_is_401_and_the_failure_is_cached() {
    let c = Cluster::start();
    let (code, body) = c.curl(METRIC, None, &["Authorization: Bearer nope"]);
    assert_eq!(code, 401, "{body}");
    assert!(message(&body).contains("invalid bearer token"), "{body}");
    let (ok, _, err) = c.kubectl(&["--token", "nope"], &["get", "--raw", DISCOVERY]);
    assert!(
        !ok && (err.contains("Unauthorized") || err.contains("provide credentials")),
        "{err}"
    );
    assert_eq!(c.api.requests_to(Endpoint::TokenReview).len(), 1);
}

#[test]
fn an_unreachable_or_slow_reviewer_fails_closed_within_the_review_timeout() {
    let c = Cluster::start();
    c.api.add_token("t-alice", user_info("alice", &["team-a"]));
    allow_metric_m_in_team_a(&c.api, "alice");
    // TokenReview hangs: 401 (authentication could not be done), not a hang.
    c.api.hang(Endpoint::TokenReview);
    let (code, body) = c.curl(METRIC, None, &["Authorization: Bearer t-alice"]);
    assert_eq!(code, 401, "{body}");
    assert!(
        message(&body).contains("token review: no answer within 1s"),
        "{body}"
    );
    c.api.heal(Endpoint::TokenReview);
    // SubjectAccessReview erroring, slow, hung: a 500 Status, never an allow.
    c.api.fail_with(Endpoint::SubjectAccessReview, 500);
    let (code, body) = c.proxied(METRIC, "alice", &[]);
    assert_eq!(code, 500, "{body}");
    assert_eq!(status(&body)["reason"], "InternalError");
    assert!(message(&body).contains("SubjectAccessReview"), "{body}");
    c.api
        .delay(Endpoint::SubjectAccessReview, Duration::from_secs(5));
    let (code, body) = c.proxied(METRIC, "alice", &["slow"]);
    assert_eq!(code, 500, "{body}");
    assert!(message(&body).contains("no answer within 1s"), "{body}");
    c.api.hang(Endpoint::SubjectAccessReview);
    let (code, body) = c.proxied(METRIC, "alice", &["hung"]);
    assert_eq!(code, 500, "{body}");
    // Errors are not cached: healed, the next request is allowed.
    c.api.heal(Endpoint::SubjectAccessReview);
    assert_eq!(c.proxied(METRIC, "alice", &[]).0, THROUGH);
    let (_, metrics) = c.proxied("/metrics", "admin", &["system:masters"]);
    assert!(
        metrics.contains("tidecast_auth_requests_total{outcome=\"authorization_error\"} 3"),
        "{metrics}"
    );
}

#[test]
fn a_namespace_outside_the_targets_allow_list_is_forbidden() {
    let c = Cluster::start();
    c.api.authorize(|_| Decision::Allow("everything".into()));
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/team-c/m";
    let (code, body) = c.proxied(path, "alice", &[]);
    assert_eq!(code, 403, "{body}");
    assert!(
        message(&body)
            .contains("namespace \"team-c\" is not in the namespaces allowed to read metric \"m\""),
        "{body}"
    );
    let other = "/apis/external.metrics.k8s.io/v1beta1/namespaces/team-b/m";
    assert_eq!(c.proxied(other, "alice", &[]).0, THROUGH);
}

#[test]
fn a_rotated_configmap_ca_applies_while_serving() {
    let c = Cluster::start();
    c.api.authorize(|_| Decision::Allow("everything".into()));
    assert_eq!(c.curl(DISCOVERY, Some(&c.pki.client), &[]).0, 200);
    // kube-apiserver rotates both CAs.
    let next = Pki::generate(
        &c.dir.path().join("next"),
        CERT_USER,
        &CERT_GROUPS,
        "front-proxy-client",
    );
    c.api.set_configmap(next.configmap_data());
    poll(PATIENCE, Duration::from_millis(200), || {
        (c.curl(DISCOVERY, Some(&next.client), &[]).0 == 200).then_some(())
    })
    .expect("the new client CA is trusted");
    let (code, body) = c.curl(DISCOVERY, Some(&c.pki.client), &[]);
    assert_eq!(code, 401, "the old CA is no longer trusted: {body}");
    let (code, _) = c.curl(
        DISCOVERY,
        Some(&next.front_proxy),
        &["X-Remote-User: alice"],
    );
    assert_eq!(code, 200);
    let (code, _) = c.proxied(DISCOVERY, "alice", &[]);
    assert_eq!(code, 401, "the old front-proxy CA is no longer trusted");
    let (_, metrics) = c.curl("/metrics", Some(&next.client), &[]);
    assert!(
        metrics.contains("tidecast_auth_settings_loads_total 2"),
        "{metrics}"
    );
}

#[test]
fn metrics_needs_get_on_the_non_resource_url() {
    let c = Cluster::start();
    c.api.authorize(|a| {
        if !a.resource_request && a.path == "/metrics" && a.user == "prometheus" {
            Decision::Allow("rbac: tidecast-metrics-reader".into())
        } else {
            Decision::NoOpinion(String::new())
        }
    });
    let (code, body) = c.curl("/metrics", Some(&c.pki.client), &[]);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        message(&body),
        format!("forbidden: User \"{CERT_USER}\" cannot get path \"/metrics\"")
    );
    let (code, body) = c.proxied("/metrics", "prometheus", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("tidecast_auth_enabled 1"), "{body}");
}

#[test]
fn the_server_refuses_to_start_without_its_authentication_settings() {
    // The ConfigMap does not exist.
    let (_api, _pki, _dir, mut server, _) = spawn("", |_, _| {});
    let status =
        poll(PATIENCE, Duration::from_millis(100), || server.try_wait()).expect("the server exits");
    assert!(!status.success());
    let logs = server.stderr_so_far().join("\n");
    assert!(
        logs.contains("kube-system/extension-apiserver-authentication")
            && logs.contains("not found"),
        "{logs}"
    );
    // The apiserver refuses the read (RBAC missing).
    let (_api, _pki, _dir, mut server, _) = spawn("", |api, pki| {
        api.set_configmap(pki.configmap_data());
        api.fail_with(Endpoint::ConfigMap, 403);
    });
    let status =
        poll(PATIENCE, Duration::from_millis(100), || server.try_wait()).expect("the server exits");
    assert!(!status.success());
    let logs = server.stderr_so_far().join("\n");
    assert!(
        logs.contains("extension-apiserver-authentication"),
        "{logs}"
    );
    // A ConfigMap whose CA does not parse.
    let (_api, _pki, _dir, mut server, _) = spawn("", |api, pki| {
        let mut data = pki.configmap_data();
        data.insert("client-ca-file".into(), "not a certificate".into());
        api.set_configmap(data);
    });
    let status =
        poll(PATIENCE, Duration::from_millis(100), || server.try_wait()).expect("the server exits");
    assert!(!status.success());
    let logs = server.stderr_so_far().join("\n");
    assert!(logs.contains("client-ca-file"), "{logs}");
}

#[test]
fn a_failing_configmap_watch_keeps_the_last_good_settings_and_says_so() {
    let c = Cluster::start();
    c.api.authorize(|_| Decision::Allow("everything".into()));
    poll(PATIENCE, Duration::from_millis(100), || {
        (c.api.open_watches() > 0).then_some(())
    })
    .expect("the server watches the ConfigMap");
    c.api.fail_with(Endpoint::ConfigMap, 500);
    c.api.close_watches();
    let readyz = poll(PATIENCE, Duration::from_millis(200), || {
        let (_, r) = c.curl("/readyz", None, &[]);
        r.contains("[-] authentication: source failing")
            .then_some(r)
    })
    .expect("readyz shows the failing source");
    assert!(
        readyz.contains("serving the last good settings"),
        "{readyz}"
    );
    // Still authenticating with the last good settings.
    assert_eq!(c.curl(DISCOVERY, Some(&c.pki.client), &[]).0, 200);
    let (_, metrics) = c.curl("/metrics", Some(&c.pki.client), &[]);
    assert!(
        metrics.contains("tidecast_auth_settings_source_failing 1"),
        "{metrics}"
    );
    let logs = c.server.stderr_so_far().join("\n");
    assert!(
        logs.contains("authentication settings source failing"),
        "{logs}"
    );
    // Healed: current again.
    c.api.heal(Endpoint::ConfigMap);
    poll(PATIENCE, Duration::from_millis(200), || {
        let (_, r) = c.curl("/readyz", None, &[]);
        r.contains("[+] authentication: configmap").then_some(())
    })
    .expect("the source recovers");
}
