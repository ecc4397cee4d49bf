//! The cluster side of delegated authentication, through the kube client: TokenReviews and
//! SubjectAccessReviews, and `kube-system/extension-apiserver-authentication` read at
//! start (fail closed) and watched (rotation applies live, failures keep the last good
//! settings). Also the standalone source: the same settings from files, re-read when they
//! change.

use crate::config::{Auth as AuthConfig, AuthSource, Authorization};
use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewStatus};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tidecast_server::Telemetry;
use tidecast_server::auth::{
    Auth, AuthOptions, AuthSettings, RequestHeaderPem, ReviewFuture, Reviewer, SourceHealth,
};

/// The ConfigMap kube-apiserver publishes its authentication settings in.
pub(crate) const CONFIGMAP_NAMESPACE: &str = "kube-system";
/// Its name.
pub(crate) const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// How long the first read of the ConfigMap may take before the start fails.
const FIRST_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Reviews through kube-apiserver.
#[derive(Clone)]
pub(crate) struct KubeReviewer {
    client: kube::Client,
}

impl std::fmt::Debug for KubeReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeReviewer").finish_non_exhaustive()
    }
}

impl Reviewer for KubeReviewer {
    fn token_review(&self, review: TokenReview) -> ReviewFuture<'_, TokenReviewStatus> {
        Box::pin(async move {
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let created = api.create(&PostParams::default(), &review).await?;
            Ok(created
                .status
                .ok_or("tokenreviews: the answer has no status")?)
        })
    }

    fn access_review(
        &self,
        review: SubjectAccessReview,
    ) -> ReviewFuture<'_, SubjectAccessReviewStatus> {
        Box::pin(async move {
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            let created = api.create(&PostParams::default(), &review).await?;
            Ok(created
                .status
                .ok_or("subjectaccessreviews: the answer has no status")?)
        })
    }
}

/// The kube client: from the kubeconfig if one is given, else in-cluster, else
/// `$KUBECONFIG` / `~/.kube/config` (kube's inference).
async fn client(cfg: &AuthConfig) -> Result<kube::Client> {
    let mut config = match &cfg.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("auth.kubeconfig: reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("auth.kubeconfig: {}", path.display()))?
        }
        None => kube::Config::infer().await.context(
            "finding the cluster (no in-cluster service account and no usable kubeconfig; set auth.kubeconfig, or auth.source: files with authorization: allow_authenticated and tokens: false for a server without a cluster)",
        )?,
    };
    config.connect_timeout = Some(cfg.review_timeout);
    kube::Client::try_from(config).context("building the kube client")
}

/// The gate as configured, with its settings loaded; for the cluster source the watch is
/// started on the current runtime. Fails (the server must not start) when the settings
/// cannot be loaded.
pub(crate) async fn gate(cfg: &AuthConfig, telemetry: Arc<Telemetry>) -> Result<Arc<Auth>> {
    let client = if cfg.needs_cluster() {
        Some(client(cfg).await?)
    } else {
        None
    };
    let mut watched = None;
    let (settings, files) = match cfg.source {
        AuthSource::Files => {
            let contents = read_files(cfg).await?;
            (
                settings_from(cfg, &contents).context("auth")?,
                Some(contents),
            )
        }
        AuthSource::Cluster => {
            let client = client.clone().expect("the cluster source has a client");
            let (settings, data) = first_read(client).await?;
            watched = Some(data);
            (settings, None)
        }
    };
    let options = AuthOptions {
        reviewer: client
            .clone()
            .map(|client| Arc::new(KubeReviewer { client }) as Arc<dyn Reviewer>),
        tokens: cfg.tokens,
        subject_access_review: cfg.authorization == Authorization::SubjectAccessReview,
        allowed_ttl: cfg.allowed_ttl,
        denied_ttl: cfg.denied_ttl,
        timeout: cfg.review_timeout,
    };
    let auth = Arc::new(Auth::new(settings, options).context("auth")?);
    telemetry.auth_settings_loaded();
    match (files, client) {
        (Some(contents), _) => {
            tokio::spawn(reload_files(cfg.clone(), contents, auth.clone(), telemetry));
        }
        (None, Some(client)) => {
            tokio::spawn(watch(client, watched, auth.clone(), telemetry));
        }
        (None, None) => unreachable!("the cluster source has a client"),
    }
    tracing::info!(
        source = auth.settings().source(),
        tokens = cfg.tokens,
        subject_access_review = auth.reviews_access(),
        "authentication and authorization on"
    );
    Ok(auth)
}

/// The ConfigMap at start, within [`FIRST_READ_TIMEOUT`]: its settings and data.
async fn first_read(client: kube::Client) -> Result<(AuthSettings, BTreeMap<String, String>)> {
    let api: Api<ConfigMap> = Api::namespaced(client, CONFIGMAP_NAMESPACE);
    let what = format!("reading {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}");
    let cm = tokio::time::timeout(FIRST_READ_TIMEOUT, api.get(CONFIGMAP_NAME))
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no answer within {FIRST_READ_TIMEOUT:?}"))?
        .with_context(|| what.clone())?;
    let settings = settings_of(&cm).with_context(|| what)?;
    Ok((settings, cm.data.unwrap_or_default()))
}

fn settings_of(cm: &ConfigMap) -> Result<AuthSettings> {
    let empty = BTreeMap::new();
    let data = cm.data.as_ref().unwrap_or(&empty);
    let version = cm.metadata.resource_version.as_deref().unwrap_or("?");
    Ok(AuthSettings::from_configmap(
        data,
        format!("configmap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} resourceVersion {version}"),
    )?)
}

/// Watch the ConfigMap; each change that loads is swapped in, each failure (a watch
/// error, the ConfigMap deleted or unloadable) keeps the last good settings and is shown
/// in `/readyz`, the log and `tidecast_auth_settings_source_failing`.
async fn watch(
    client: kube::Client,
    mut current: Option<BTreeMap<String, String>>,
    auth: Arc<Auth>,
    telemetry: Arc<Telemetry>,
) {
    use kube::runtime::WatchStreamExt;
    let api: Api<ConfigMap> = Api::namespaced(client, CONFIGMAP_NAMESPACE);
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP_NAME}"));
    let mut events = std::pin::pin!(watcher(api.clone(), config).default_backoff());
    let mut seen_in_init = false;
    // While failing, the ConfigMap is also read directly: a watch that resumes cleanly
    // sends no event, so without this nothing would say the source is back.
    let mut probe = tokio::time::interval(RECOVERY_PROBE_INTERVAL);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = events.next() => match event {
                Some(e) => e,
                None => return,
            },
            _ = probe.tick(), if auth.health() != SourceHealth::Current => {
                match tokio::time::timeout(FIRST_READ_TIMEOUT, api.get(CONFIGMAP_NAME)).await {
                    Ok(Ok(cm)) => {
                        if let Err(error) = apply(&cm, &mut current, &auth, &telemetry) {
                            fail(&auth, &telemetry, error);
                        }
                    }
                    Ok(Err(e)) => fail(&auth, &telemetry, format!("reading {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: {e}")),
                    Err(_) => fail(&auth, &telemetry, format!("reading {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: no answer within {FIRST_READ_TIMEOUT:?}")),
                }
                continue;
            }
        };
        let failure = match event {
            Ok(watcher::Event::Init) => {
                seen_in_init = false;
                None
            }
            Ok(watcher::Event::InitApply(cm) | watcher::Event::Apply(cm)) => {
                seen_in_init = true;
                apply(&cm, &mut current, &auth, &telemetry).err()
            }
            Ok(watcher::Event::InitDone) if !seen_in_init => Some(format!(
                "{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} does not exist"
            )),
            Ok(watcher::Event::InitDone) => None,
            Ok(watcher::Event::Delete(_)) => Some(format!(
                "{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} was deleted"
            )),
            Err(e) => Some(format!(
                "watching {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: {e}"
            )),
        };
        if let Some(error) = failure {
            fail(&auth, &telemetry, error);
        }
    }
}

/// How often a failing source is read directly to see whether it is back.
const RECOVERY_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Swap in the ConfigMap's settings if its data changed.
fn apply(
    cm: &ConfigMap,
    current: &mut Option<BTreeMap<String, String>>,
    auth: &Auth,
    telemetry: &Telemetry,
) -> Result<(), String> {
    let data = cm.data.clone().unwrap_or_default();
    if current.as_ref() == Some(&data) {
        recovered(auth, telemetry);
        return Ok(());
    }
    let settings = settings_of(cm).map_err(|e| format!("{e:#}"))?;
    auth.set_settings(settings);
    telemetry.auth_settings_loaded();
    telemetry.set_auth_source_failing(false);
    *current = Some(data);
    Ok(())
}

fn recovered(auth: &Auth, telemetry: &Telemetry) {
    if auth.health() != SourceHealth::Current {
        tracing::info!("authentication settings source recovered");
        auth.set_health(SourceHealth::Current);
    }
    telemetry.set_auth_source_failing(false);
}

fn fail(auth: &Auth, telemetry: &Telemetry, error: String) {
    tracing::warn!(
        %error,
        "authentication settings source failing; serving with the last good settings"
    );
    let since = match auth.health() {
        SourceHealth::Failing { since, .. } => since,
        SourceHealth::Current => tidecast_server::Clock::now(&tidecast_server::SystemClock) as i64,
    };
    auth.set_health(SourceHealth::Failing { error, since });
    telemetry.set_auth_source_failing(true);
}

/// The files' contents: the client CA and the front-proxy CA.
async fn read_files(cfg: &AuthConfig) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>)> {
    let read = |p: &std::path::Path| {
        let p = p.to_path_buf();
        async move {
            tokio::fs::read(&p)
                .await
                .with_context(|| format!("reading {}", p.display()))
        }
    };
    let client = match &cfg.client_ca_file {
        Some(p) => Some(read(p).await.context("auth.client_ca_file")?),
        None => None,
    };
    let rh = match &cfg.requestheader {
        Some(r) => Some(
            read(&r.client_ca_file)
                .await
                .context("auth.requestheader.client_ca_file")?,
        ),
        None => None,
    };
    Ok((client, rh))
}

fn settings_from(
    cfg: &AuthConfig,
    (client, rh): &(Option<Vec<u8>>, Option<Vec<u8>>),
) -> Result<AuthSettings> {
    let client_name = cfg
        .client_ca_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let request_header =
        cfg.requestheader
            .as_ref()
            .zip(rh.as_ref())
            .map(|(r, pem)| RequestHeaderPem {
                client_ca: pem.clone(),
                client_ca_source: r.client_ca_file.display().to_string(),
                allowed_names: r.allowed_names.clone(),
                username_headers: r.username_headers.clone(),
                uid_headers: r.uid_headers.clone(),
                group_headers: r.group_headers.clone(),
                extra_headers_prefix: r.extra_headers_prefix.clone(),
            });
    Ok(AuthSettings::from_pem(
        client.as_deref().map(|pem| (pem, client_name.as_str())),
        request_header,
        "files",
    )?)
}

/// The files source's settings, for the start and for `serve --check`.
pub(crate) async fn files_settings(cfg: &AuthConfig) -> Result<AuthSettings> {
    settings_from(cfg, &read_files(cfg).await?).context("auth")
}

/// Re-read the files every few seconds; a change that loads is swapped in, one that does
/// not keeps the last good settings (as for the ConfigMap).
async fn reload_files(
    cfg: AuthConfig,
    loaded: (Option<Vec<u8>>, Option<Vec<u8>>),
    auth: Arc<Auth>,
    telemetry: Arc<Telemetry>,
) {
    let mut last = Some(loaded);
    let mut ticker = tokio::time::interval(FILES_RELOAD_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let now = match read_files(&cfg).await {
            Ok(now) if last.as_ref() == Some(&now) => {
                recovered(&auth, &telemetry);
                continue;
            }
            Ok(now) => now,
            Err(e) => {
                fail(&auth, &telemetry, format!("{e:#}"));
                continue;
            }
        };
        match settings_from(&cfg, &now) {
            Ok(s) => {
                auth.set_settings(s);
                telemetry.auth_settings_loaded();
                telemetry.set_auth_source_failing(false);
                last = Some(now);
            }
            Err(e) => fail(&auth, &telemetry, format!("{e:#}")),
        }
    }
}

/// How often the files source is re-read.
const FILES_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
