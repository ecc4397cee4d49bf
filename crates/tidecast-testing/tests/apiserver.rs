//! The fake kube-apiserver against the real kube client (and kubectl): the shapes it
//! answers, its watches and its faults.

use futures::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tidecast_testing::{
    AUTH_CONFIGMAP_NAME, AUTH_CONFIGMAP_NAMESPACE, Ca, Decision, Endpoint, FakeApiServer, Pki,
    poll, user_info,
};

/// The harness bound on any one wait in these tests (never reached when things work).
const LIMIT: Duration = Duration::from_secs(20);

/// A kube client configured from the fake's kubeconfig file, as a deployment's would be.
async fn client_config(fake: &FakeApiServer, dir: &Path) -> kube::Config {
    let path = dir.join("kubeconfig");
    fake.kubeconfig(&path);
    let kubeconfig = Kubeconfig::read_from(&path).expect("the kubeconfig parses");
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("the kubeconfig loads")
}

async fn client(fake: &FakeApiServer, dir: &Path) -> kube::Client {
    kube::Client::try_from(client_config(fake, dir).await).expect("a client")
}

fn token_review(token: &str) -> TokenReview {
    TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn metric_access(user: &str, groups: &[&str], namespace: &str) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.into()),
                verb: Some("list".into()),
                group: Some("external.metrics.k8s.io".into()),
                version: Some("v1beta1".into()),
                resource: Some("predicted_rps".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The HTTP status of a failed kube call.
fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

fn auth_configmaps(client: &kube::Client) -> Api<ConfigMap> {
    Api::namespaced(client.clone(), AUTH_CONFIGMAP_NAMESPACE)
}

#[tokio::test]
async fn a_token_review_answers_the_scripted_user_and_refuses_unknown_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    let mut alice = user_info("alice", &["team-a", "system:authenticated"]);
    alice.uid = Some("uid-alice".into());
    alice.extra = Some([("scopes".to_string(), vec!["metrics".to_string()])].into());
    fake.add_token("alice-token", alice.clone());
    let reviews: Api<TokenReview> = Api::all(client(&fake, dir.path()).await);

    let known = reviews
        .create(&PostParams::default(), &token_review("alice-token"))
        .await
        .unwrap();
    let status = known.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    assert_eq!(status.user, Some(alice));
    assert_eq!(status.error, None);

    let unknown = reviews
        .create(&PostParams::default(), &token_review("mallory-token"))
        .await
        .unwrap();
    let status = unknown.status.unwrap();
    assert_eq!(status.authenticated, Some(false));
    assert_eq!(status.user, None);
    assert!(status.error.is_some_and(|e| !e.is_empty()));

    // A removed token no longer authenticates.
    fake.remove_token("alice-token");
    let removed = reviews
        .create(&PostParams::default(), &token_review("alice-token"))
        .await
        .unwrap();
    assert_eq!(removed.status.unwrap().authenticated, Some(false));

    // The log has what the client sent: its own credentials and the review's JSON.
    let sent = fake.requests_to(Endpoint::TokenReview);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
    let bearer = format!("Bearer {}", fake.token());
    assert_eq!(sent[0].authorization.as_deref(), Some(bearer.as_str()));
    let body = sent[1].body.as_ref().unwrap();
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(body["kind"], "TokenReview");
    assert_eq!(body["spec"]["token"], "mallory-token");
}

#[tokio::test]
async fn a_token_review_without_a_token_or_of_the_wrong_kind_is_a_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    let client = client(&fake, dir.path()).await;
    let reviews: Api<TokenReview> = Api::all(client.clone());
    let e = reviews
        .create(&PostParams::default(), &token_review(""))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(400), "{e}");

    // A SubjectAccessReview posted to the TokenReview endpoint.
    let wrong = axum::http::Request::post("/apis/authentication.k8s.io/v1/tokenreviews")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&metric_access("alice", &[], "shop")).unwrap())
        .unwrap();
    let e = client.request_text(wrong).await.unwrap_err();
    assert_eq!(api_code(&e), Some(400), "{e}");
}

#[tokio::test]
async fn a_subject_access_review_is_answered_by_the_scripted_rules() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.authorize(|a| {
        if a.groups.iter().any(|g| g == "team-a") && a.namespace == "shop" && a.verb == "list" {
            Decision::Allow(format!("team-a may {} {}", a.verb, a.resource))
        } else if a.user == "mallory" {
            Decision::Deny("mallory is banned".into())
        } else if !a.resource_request && a.path == "/metrics" && a.verb == "get" {
            Decision::Allow("scraper".into())
        } else {
            Decision::NoOpinion(String::new())
        }
    });
    let reviews: Api<SubjectAccessReview> = Api::all(client(&fake, dir.path()).await);
    let ask = |sar: SubjectAccessReview| {
        let reviews = reviews.clone();
        async move {
            let answer = reviews.create(&PostParams::default(), &sar).await.unwrap();
            answer.status.unwrap()
        }
    };

    let allowed = ask(metric_access("alice", &["team-a"], "shop")).await;
    assert!(allowed.allowed);
    assert_eq!(allowed.denied, None);
    assert_eq!(
        allowed.reason.as_deref(),
        Some("team-a may list predicted_rps")
    );

    let no_opinion = ask(metric_access("alice", &["team-a"], "bank")).await;
    assert!(!no_opinion.allowed);
    assert_eq!(no_opinion.denied, None);

    let denied = ask(metric_access("mallory", &[], "shop")).await;
    assert!(!denied.allowed);
    assert_eq!(denied.denied, Some(true));
    assert_eq!(denied.reason.as_deref(), Some("mallory is banned"));

    let mut scrape = metric_access("prometheus", &[], "");
    scrape.spec.resource_attributes = None;
    scrape.spec.non_resource_attributes = Some(NonResourceAttributes {
        path: Some("/metrics".into()),
        verb: Some("get".into()),
    });
    assert!(ask(scrape).await.allowed);

    // What the client sent is in the log, as the apiserver received it.
    let sent = fake.requests_to(Endpoint::SubjectAccessReview);
    assert_eq!(sent.len(), 4);
    let attrs = &sent[0].body.as_ref().unwrap()["spec"]["resourceAttributes"];
    assert_eq!(attrs["group"], "external.metrics.k8s.io");
    assert_eq!(attrs["namespace"], "shop");
}

#[tokio::test]
async fn a_subject_access_review_without_attributes_or_subject_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.authorize(|_| Decision::Allow("everything".into()));
    let reviews: Api<SubjectAccessReview> = Api::all(client(&fake, dir.path()).await);
    let mut no_attributes = metric_access("alice", &[], "shop");
    no_attributes.spec.resource_attributes = None;
    let mut nobody = metric_access("", &[], "shop");
    nobody.spec.groups = None;
    for sar in [no_attributes, nobody] {
        let e = reviews
            .create(&PostParams::default(), &sar)
            .await
            .unwrap_err();
        assert_eq!(api_code(&e), Some(422), "{e}");
    }
}

#[tokio::test]
async fn the_auth_configmap_is_got_with_the_real_keys_and_missing_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(
        &dir.path().join("pki"),
        "alice",
        &["team-a"],
        "front-proxy-client",
    );
    let fake = FakeApiServer::start();
    let configmaps = auth_configmaps(&client(&fake, dir.path()).await);

    let e = configmaps.get(AUTH_CONFIGMAP_NAME).await.unwrap_err();
    assert_eq!(api_code(&e), Some(404), "{e}");

    let rv = fake.set_configmap(pki.configmap_data());
    let cm = configmaps.get(AUTH_CONFIGMAP_NAME).await.unwrap();
    assert_eq!(cm.metadata.resource_version.as_deref(), Some(rv.as_str()));
    let data = cm.data.unwrap();
    assert_eq!(data, pki.configmap_data());
    assert!(data["client-ca-file"].starts_with("-----BEGIN CERTIFICATE-----"));
    let names: Vec<String> = serde_json::from_str(&data["requestheader-allowed-names"]).unwrap();
    assert_eq!(names, ["front-proxy-client"]);

    // Another name in the namespace is not there.
    let e = configmaps.get("something-else").await.unwrap_err();
    assert_eq!(api_code(&e), Some(404), "{e}");
}

#[tokio::test]
async fn a_watch_from_the_got_version_sees_modified_after_set_configmap() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "one".into())]));
    let configmaps = auth_configmaps(&client(&fake, dir.path()).await);
    let rv = configmaps
        .get(AUTH_CONFIGMAP_NAME)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let params = WatchParams::default()
        .fields(&format!("metadata.name={AUTH_CONFIGMAP_NAME}"))
        .timeout(30);
    let mut events = configmaps.watch(&params, &rv).await.unwrap().boxed();
    let new_rv = fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "two".into())]));
    let event = tokio::time::timeout(LIMIT, events.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .unwrap();
    let WatchEvent::Modified(cm) = event else {
        panic!("expected MODIFIED, got {event:?}");
    };
    assert_eq!(cm.metadata.resource_version, Some(new_rv));
    assert_eq!(cm.data.unwrap()["client-ca-file"], "two");

    let watch = fake.requests_to(Endpoint::ConfigMap).pop().unwrap();
    assert_eq!(
        watch.path,
        format!("/api/v1/namespaces/{AUTH_CONFIGMAP_NAMESPACE}/configmaps")
    );
    assert!(watch.query.contains("watch=true"), "{}", watch.query);
}

/// The next watcher event, within the harness limit.
async fn next<S: futures::Stream<Item = watcher::Result<watcher::Event<ConfigMap>>> + Unpin>(
    events: &mut S,
) -> watcher::Event<ConfigMap> {
    tokio::time::timeout(LIMIT, events.next())
        .await
        .expect("an event in time")
        .expect("the watcher goes on")
        .expect("no watcher error")
}

fn ca_of(event: &watcher::Event<ConfigMap>) -> Option<&str> {
    match event {
        watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => {
            cm.data.as_ref()?.get("client-ca-file").map(String::as_str)
        }
        _ => None,
    }
}

/// A kube-runtime watcher (LIST then WATCH from the list's version, or a streaming list)
/// sees the ConfigMap, each change, and carries on after its watch is closed.
async fn watcher_follows_changes(config: watcher::Config) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "one".into())]));
    let configmaps = auth_configmaps(&client(&fake, dir.path()).await);
    let mut events = watcher(
        configmaps,
        config.fields(&format!("metadata.name={AUTH_CONFIGMAP_NAME}")),
    )
    .boxed();

    assert!(matches!(next(&mut events).await, watcher::Event::Init));
    assert_eq!(ca_of(&next(&mut events).await), Some("one"));
    assert!(matches!(next(&mut events).await, watcher::Event::InitDone));

    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "two".into())]));
    assert_eq!(ca_of(&next(&mut events).await), Some("two"));

    // The watch is cut: the watcher watches again and still sees the next change.
    fake.close_watches();
    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "three".into())]));
    loop {
        let event = next(&mut events).await;
        if ca_of(&event) == Some("three") {
            break;
        }
    }
    assert!(fake.open_watches() <= 1);
    // The LIST (ListWatch) or WATCH (streaming list) selected the ConfigMap by name.
    let first = &fake.requests_to(Endpoint::ConfigMap)[0];
    assert_eq!(
        first.path,
        format!("/api/v1/namespaces/{AUTH_CONFIGMAP_NAMESPACE}/configmaps")
    );
    let selector = format!("fieldSelector=metadata.name%3D{AUTH_CONFIGMAP_NAME}");
    assert!(first.query.contains(&selector), "{}", first.query);
}

#[tokio::test]
async fn a_list_watch_watcher_sees_the_configmap_and_each_change() {
    watcher_follows_changes(watcher::Config::default()).await;
}

#[tokio::test]
async fn a_watch_of_the_named_path_sends_added_modified_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "one".into())]));
    let client = client(&fake, dir.path()).await;
    let path = format!(
        "/api/v1/namespaces/{AUTH_CONFIGMAP_NAMESPACE}/configmaps/{AUTH_CONFIGMAP_NAME}?watch=1&resourceVersion=0"
    );
    let request = axum::http::Request::get(path).body(Vec::new()).unwrap();
    let mut events = client
        .request_events::<ConfigMap>(request)
        .await
        .unwrap()
        .boxed();
    let mut next = async || {
        tokio::time::timeout(LIMIT, events.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .unwrap()
    };
    let data = |cm: &ConfigMap| cm.data.as_ref().unwrap()["client-ca-file"].clone();
    let WatchEvent::Added(cm) = next().await else {
        panic!("the current state first")
    };
    assert_eq!(data(&cm), "one");
    fake.set_configmap(BTreeMap::from([("client-ca-file".into(), "two".into())]));
    let WatchEvent::Modified(cm) = next().await else {
        panic!("then the change")
    };
    assert_eq!(data(&cm), "two");
    fake.delete_configmap();
    let WatchEvent::Deleted(cm) = next().await else {
        panic!("then the deletion")
    };
    assert_eq!(cm.metadata.name.as_deref(), Some(AUTH_CONFIGMAP_NAME));
}

#[tokio::test]
async fn a_streaming_list_watcher_sees_the_configmap_and_each_change() {
    watcher_follows_changes(watcher::Config::default().streaming_lists()).await;
}

#[tokio::test]
async fn an_injected_500_is_an_api_error_and_heal_restores_answers() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.add_token("t", user_info("alice", &[]));
    let reviews: Api<TokenReview> = Api::all(client(&fake, dir.path()).await);

    fake.fail_with(Endpoint::TokenReview, 500);
    let e = reviews
        .create(&PostParams::default(), &token_review("t"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(500), "{e}");
    let kube::Error::Api(status) = &e else {
        unreachable!()
    };
    assert!(status.message.contains("injected"), "{status:?}");
    // Other endpoints are not affected, and the failed request is in the log.
    fake.authorize(|_| Decision::Allow("ok".into()));
    let sars: Api<SubjectAccessReview> = Api::all(reviews.clone().into_client());
    let sar = metric_access("alice", &[], "shop");
    assert!(
        sars.create(&PostParams::default(), &sar)
            .await
            .unwrap()
            .status
            .unwrap()
            .allowed
    );
    assert_eq!(fake.requests_to(Endpoint::TokenReview).len(), 1);

    fake.heal(Endpoint::TokenReview);
    let ok = reviews
        .create(&PostParams::default(), &token_review("t"))
        .await
        .unwrap();
    assert_eq!(ok.status.unwrap().authenticated, Some(true));
}

#[tokio::test]
async fn a_delay_longer_than_the_client_timeout_times_out_and_a_hang_too() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.authorize(|_| Decision::Allow("ok".into()));
    fake.set_configmap(BTreeMap::new());
    let mut config = client_config(&fake, dir.path()).await;
    config.read_timeout = Some(Duration::from_millis(300));
    let client = kube::Client::try_from(config).unwrap();
    let sars: Api<SubjectAccessReview> = Api::all(client.clone());
    let sar = metric_access("alice", &[], "shop");

    let delay = Duration::from_secs(5);
    fake.delay(Endpoint::SubjectAccessReview, delay);
    let t0 = tokio::time::Instant::now();
    let e = sars.create(&PostParams::default(), &sar).await.unwrap_err();
    assert!(api_code(&e).is_none(), "a timeout, not an answer: {e}");
    assert!(t0.elapsed() < delay, "the client gave up before the answer");

    fake.hang(Endpoint::ConfigMap);
    let configmaps = auth_configmaps(&client);
    let e = configmaps.get(AUTH_CONFIGMAP_NAME).await.unwrap_err();
    assert!(api_code(&e).is_none(), "a timeout, not an answer: {e}");

    // A delay shorter than the timeout only slows the answer.
    fake.delay(Endpoint::SubjectAccessReview, Duration::from_millis(50));
    let answer = sars.create(&PostParams::default(), &sar).await.unwrap();
    assert!(answer.status.unwrap().allowed);
    fake.heal(Endpoint::ConfigMap);
    configmaps.get(AUTH_CONFIGMAP_NAME).await.unwrap();
}

#[tokio::test]
async fn a_hung_request_answers_once_healed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.add_token("t", user_info("alice", &[]));
    fake.hang(Endpoint::TokenReview);
    let reviews: Api<TokenReview> = Api::all(client(&fake, dir.path()).await);
    let hung = tokio::spawn(async move {
        reviews
            .create(&PostParams::default(), &token_review("t"))
            .await
    });
    // Healed once the request has arrived (and hangs).
    let t0 = tokio::time::Instant::now();
    while fake.requests_to(Endpoint::TokenReview).is_empty() {
        assert!(t0.elapsed() < LIMIT, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!hung.is_finished());
    fake.heal(Endpoint::TokenReview);
    let answer = tokio::time::timeout(LIMIT, hung)
        .await
        .expect("answered once healed")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status.unwrap().authenticated, Some(true));
}

#[tokio::test]
async fn a_caller_without_the_kubeconfig_token_is_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeApiServer::start();
    fake.set_configmap(BTreeMap::new());
    let mut config = client_config(&fake, dir.path()).await;
    config.auth_info.token = None;
    let anonymous = kube::Client::try_from(config).unwrap();
    let e = auth_configmaps(&anonymous)
        .get(AUTH_CONFIGMAP_NAME)
        .await
        .unwrap_err();
    assert_eq!(api_code(&e), Some(401), "{e}");
    assert_eq!(fake.requests()[0].authorization, None);
}

#[test]
fn the_fake_serves_synchronous_tests_and_stops_on_drop() {
    let fake = FakeApiServer::start();
    let port: u16 = fake.url().rsplit(':').next().unwrap().parse().unwrap();
    assert!(fake.url().starts_with("https://127.0.0.1:"));
    assert!(fake.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        std::fs::read_to_string(fake.ca_path()).unwrap(),
        fake.ca_pem()
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(fake);
    let closed = poll(LIMIT, Duration::from_millis(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    });
    assert!(closed.is_some(), "the port still accepts after drop");
}

#[test]
fn kubectl_gets_the_configmap_through_the_kubeconfig() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl is not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(
        &dir.path().join("pki"),
        "alice",
        &["team-a"],
        "front-proxy-client",
    );
    let fake = FakeApiServer::start();
    fake.set_configmap(pki.configmap_data());
    let kubeconfig = dir.path().join("kubeconfig");
    fake.kubeconfig(&kubeconfig);
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("--request-timeout=10s")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let cm = kubectl(&[
        "get",
        "configmap",
        "-n",
        AUTH_CONFIGMAP_NAMESPACE,
        AUTH_CONFIGMAP_NAME,
        "-o",
        "json",
    ]);
    let want: serde_json::Value = serde_json::to_value(pki.configmap_data()).unwrap();
    assert_eq!(cm["data"], want);
    assert_eq!(cm["kind"], "ConfigMap");

    // kubectl creates a TokenReview too (the token is in the fake's table).
    fake.add_token("alice-token", user_info("alice", &["team-a"]));
    let review = dir.path().join("review.json");
    std::fs::write(
        &review,
        serde_json::to_string(&token_review("alice-token")).unwrap(),
    )
    .unwrap();
    let answer = kubectl(&[
        "create",
        "--validate=false",
        "-f",
        review.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(answer["status"]["user"]["username"], "alice");
}

#[test]
fn the_pki_chains_each_client_certificate_to_its_own_ca_only() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, UnixTime};
    use rustls::server::WebPkiClientVerifier;
    use std::sync::Arc;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(
        dir.path(),
        "alice",
        &["team-a", "team-b"],
        "front-proxy-client",
    );
    let not_allowed = pki.issue(Ca::FrontProxy, "wrong-name", "someone-else", &[]);
    let cert = |p: &Path| CertificateDer::from_pem_file(p).unwrap();
    let verifies = |ca: &Path, leaf: &Path| {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert(ca)).unwrap();
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        verifier
            .verify_client_cert(&cert(leaf), &[], UnixTime::now())
            .is_ok()
    };
    let cas = [&pki.client_ca, &pki.front_proxy_ca, &pki.other_ca];
    let leaves = [&pki.client.cert, &pki.front_proxy.cert, &pki.other.cert];
    for (i, ca) in cas.iter().enumerate() {
        for (j, leaf) in leaves.iter().enumerate() {
            assert_eq!(
                verifies(ca, leaf),
                i == j,
                "{} by {}",
                leaf.display(),
                ca.display()
            );
        }
    }
    assert!(verifies(&pki.front_proxy_ca, &not_allowed.cert));

    let subject = |p: &Path| {
        let der = cert(p);
        let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let s = x.subject();
        let cn: Vec<String> = s
            .iter_common_name()
            .map(|a| a.as_str().unwrap().into())
            .collect();
        let o: Vec<String> = s
            .iter_organization()
            .map(|a| a.as_str().unwrap().into())
            .collect();
        (cn, o)
    };
    assert_eq!(
        subject(&pki.client.cert),
        (vec!["alice".into()], vec!["team-a".into(), "team-b".into()])
    );
    assert_eq!(subject(&pki.front_proxy.cert).0, ["front-proxy-client"]);
    assert_eq!(subject(&pki.other.cert).0, ["front-proxy-client"]);
    assert_eq!(subject(&not_allowed.cert).0, ["someone-else"]);
    for key in [&pki.client.key, &pki.front_proxy.key, &pki.other.key] {
        let pem = std::fs::read_to_string(key).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{}",
            key.display()
        );
    }
}
