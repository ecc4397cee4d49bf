//! The shipped install: every kustomization renders with the objects a cluster needs, the
//! APIService always verifies tidecast's certificate, `tidecast certs` feeds the self-signed
//! overlay, the alerts and dashboard name only metrics the server exports, and the example
//! config validates.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tidecast_testing::{Binary, repo_path};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

fn deploy() -> PathBuf {
    repo_path("deploy")
}

/// The example config and the holiday calendar it names (the base's ConfigMap).
fn config_dir() -> PathBuf {
    deploy().join("base")
}

/// `kubectl kustomize dir`, as text.
#[track_caller]
fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl is installed");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The objects of a multi-document YAML stream.
fn objects(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect()
}

/// The one object of `kind` named `name`.
#[track_caller]
fn object<'a>(objs: &'a [serde_yaml::Value], kind: &str, name: &str) -> &'a serde_yaml::Value {
    let found: Vec<_> = objs
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name}: found {}", found.len());
    found[0]
}

fn kinds(objs: &[serde_yaml::Value]) -> Vec<&str> {
    objs.iter().filter_map(|o| o["kind"].as_str()).collect()
}

/// A copy of deploy/ with the self-signed overlay's files written by `tidecast certs`.
fn self_signed_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("deploy");
    let cp = Command::new("cp")
        .arg("-rL")
        .arg(deploy())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    let out = copy.join("overlays/self-signed");
    for f in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    TIDECAST.ok(&[
        "certs",
        "--namespace",
        "tidecast",
        "--out",
        out.to_str().unwrap(),
    ]);
    copy
}

#[test]
fn the_kustomization_renders_every_object() {
    let objs = objects(&kustomize(&deploy()));
    let kinds = kinds(&objs);
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "NetworkPolicy",
        "APIService",
        "PersistentVolumeClaim",
        "CronJob",
    ] {
        assert!(kinds.contains(&kind), "missing {kind}: {kinds:?}");
    }
    object(&objs, "APIService", "v1beta1.external.metrics.k8s.io");
    let config = objs
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the config ConfigMap");
    assert!(
        config["data"]["holidays.csv"].is_string(),
        "the holiday calendar ships in the ConfigMap"
    );
    assert!(config["data"]["tidecast.yaml"].is_string());

    let cm = objects(&kustomize(&deploy().join("overlays/cert-manager")));
    let cm_kinds = self::kinds(&cm);
    assert!(cm_kinds.contains(&"Certificate") && cm_kinds.contains(&"Issuer"));

    let mon = objects(&kustomize(&deploy().join("monitoring")));
    let mon_kinds = self::kinds(&mon);
    for kind in ["ServiceMonitor", "PrometheusRule", "ConfigMap"] {
        assert!(mon_kinds.contains(&kind), "monitoring: missing {kind}");
    }
    let dashboard = object(&mon, "ConfigMap", "tidecast-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert!(dashboard["data"]["tidecast-dashboard.json"].is_string());
}

/// A `namespace:` in the kustomization would move this RoleBinding into tidecast's namespace,
/// where it grants nothing, and tidecast could not read its authentication settings.
#[test]
fn the_authentication_reader_binding_stays_in_kube_system() {
    let objs = objects(&kustomize(&deploy()));
    let rb = object(&objs, "RoleBinding", "tidecast-auth-reader");
    assert_eq!(rb["metadata"]["namespace"], "kube-system");
    assert_eq!(
        rb["roleRef"]["name"],
        "extension-apiserver-authentication-reader"
    );
    let delegator = object(
        &objs,
        "ClusterRoleBinding",
        "tidecast:system:auth-delegator",
    );
    assert_eq!(delegator["subjects"][0]["namespace"], "tidecast");
    let reader = object(&objs, "ClusterRole", "tidecast-metrics-reader");
    assert_eq!(
        reader["rules"][0],
        serde_yaml::from_str::<serde_yaml::Value>(
            r#"{nonResourceURLs: ["/metrics"], verbs: ["get"]}"#
        )
        .unwrap()
    );
}

#[test]
fn no_manifest_skips_tls_verification_and_every_apiservice_names_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let copy = self_signed_copy(dir.path());
    let rendered = [
        ("base", kustomize(&deploy())),
        (
            "cert-manager",
            kustomize(&deploy().join("overlays/cert-manager")),
        ),
        ("self-signed", kustomize(&copy.join("overlays/self-signed"))),
        ("monitoring", kustomize(&deploy().join("monitoring"))),
    ];
    for (name, text) in &rendered {
        assert!(
            !text.contains("insecureSkipTLSVerify"),
            "{name} skips TLS verification"
        );
    }
    let api = |text: &str| {
        object(
            &objects(text),
            "APIService",
            "v1beta1.external.metrics.k8s.io",
        )
        .clone()
    };
    // The base: a caBundle that fails closed until an overlay or the user replaces it.
    let base = api(&rendered[0].1);
    let placeholder = base["spec"]["caBundle"].as_str().expect("a caBundle");
    assert!(!placeholder.is_empty() && !placeholder.starts_with("LS0tLS1CRUdJTi"));
    // cert-manager: the injector's annotation and no caBundle for a re-apply to overwrite.
    let cm = api(&rendered[1].1);
    assert_eq!(
        cm["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "tidecast/tidecast-serving"
    );
    assert!(cm["spec"].get("caBundle").is_none(), "{cm:?}");
    // self-signed: the CA `tidecast certs` wrote.
    let ss = api(&rendered[2].1);
    let ca_bundle =
        std::fs::read_to_string(copy.join("overlays/self-signed/ca-bundle.base64")).unwrap();
    assert_eq!(ss["spec"]["caBundle"].as_str(), Some(ca_bundle.trim()));
}

/// `tidecast certs` writes a CA, a serving certificate for the Service's names signed by
/// it, the Secret and the caBundle; run again, it keeps the CA so the caBundle holds.
#[test]
fn tidecast_certs_writes_the_secret_and_ca_bundle_and_renews_under_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    let copy = self_signed_copy(dir.path());
    let out = copy.join("overlays/self-signed");
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&out)
            .output()
            .expect("the openssl CLI is installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let verify = || openssl(&["verify", "-CAfile", "ca.crt", "tls.crt"]);
    assert!(verify().contains("tls.crt: OK"));
    let text = openssl(&[
        "x509",
        "-in",
        "tls.crt",
        "-noout",
        "-ext",
        "subjectAltName,extendedKeyUsage",
    ]);
    assert!(
        text.contains("DNS:tidecast.tidecast.svc, DNS:tidecast.tidecast.svc.cluster.local")
            && text.contains("TLS Web Server Authentication"),
        "{text}"
    );
    let ca_pem = std::fs::read(out.join("ca.crt")).unwrap();
    let b64 = openssl(&["base64", "-A", "-in", "ca.crt"]);
    let ca_bundle = std::fs::read_to_string(out.join("ca-bundle.base64")).unwrap();
    assert_eq!(ca_bundle.trim(), b64.trim());

    let objs = objects(&kustomize(&out));
    let secret = object(&objs, "Secret", "tidecast-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["namespace"], "tidecast");
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(secret["data"][key].is_string(), "the Secret lacks {key}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca.key", "tls.key", "tidecast-tls.yaml"] {
            let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
        }
    }

    // Renewal: a new serving certificate, the same CA.
    let old_crt = std::fs::read(out.join("tls.crt")).unwrap();
    let again = TIDECAST.ok(&["certs", "--out", out.to_str().unwrap()]);
    assert!(again.contains("reused the CA"), "{again}");
    assert_eq!(std::fs::read(out.join("ca.crt")).unwrap(), ca_pem);
    assert_ne!(std::fs::read(out.join("tls.crt")).unwrap(), old_crt);
    assert!(verify().contains("tls.crt: OK"));
}

/// The pod spec meets the restricted Pod Security Standard, and its user is the image's.
#[test]
fn the_deployment_runs_hardened_as_the_image_user() {
    let objs = objects(&kustomize(&deploy()));
    let d = object(&objs, "Deployment", "tidecast");
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0]["securityContext"];
    assert_eq!(c["readOnlyRootFilesystem"], true);
    assert_eq!(c["allowPrivilegeEscalation"], false);
    assert_eq!(c["capabilities"]["drop"][0], "ALL");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(pod["containers"][0][probe]["httpGet"]["scheme"], "HTTPS");
    }
    let uid = pod["securityContext"]["runAsUser"].as_u64().unwrap();
    let dockerfile = std::fs::read_to_string(repo_path("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("USER {uid}:{uid}")),
        "the Dockerfile runs as another user than the Deployment's {uid}"
    );
    let ns = object(&objs, "Namespace", "tidecast");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

/// The PrometheusRule is the rules file's groups under `spec:`, as
/// `scripts/check-deploy.sh --write-rules` writes it.
#[test]
fn the_prometheus_rule_carries_exactly_the_promtool_tested_rules_file() {
    let mon = deploy().join("monitoring");
    let rules = std::fs::read_to_string(mon.join("tidecast.rules.yaml")).unwrap();
    let committed = std::fs::read_to_string(mon.join("prometheusrule.yaml")).unwrap();
    let (header, body) = committed.split_once("\nspec:\n").expect("a spec: line");
    assert!(header.contains("kind: PrometheusRule"));
    let groups = &rules[rules.find("\ngroups:").expect("a groups: line") + 1..];
    let indented: String = groups
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("  {l}\n")
            }
        })
        .collect();
    assert!(
        body == indented,
        "deploy/monitoring/prometheusrule.yaml differs from tidecast.rules.yaml: run scripts/check-deploy.sh --write-rules"
    );
}

/// Every `tidecast_*` name in `text` (a metric name: lowercase letters and underscores).
fn tidecast_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (i, _) in text.match_indices("tidecast_") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        names.insert(name.trim_end_matches('_').to_string());
    }
    names
}

/// The metric families and sample names of a text exposition.
fn exported(exposition: &str) -> std::collections::BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split_whitespace().next(),
            None if !l.starts_with('#') => l.split(['{', ' ']).next(),
            None => None,
        })
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether `name` is exported: itself, or a counter's or histogram's series of a family.
fn is_exported(families: &std::collections::BTreeSet<String>, name: &str) -> bool {
    families.contains(name)
        || ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|f| families.contains(f)))
}

#[test]
fn the_dashboard_and_alerts_name_only_metrics_that_metrics_exports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let demo = TIDECAST.spawn(&["demo", "--port", "0", "--dir", d, "--speed", "60"]);
    let lines = demo.stdout_until(
        "| grep tidecast_target_served_value",
        Duration::from_secs(60),
    );
    let url = lines
        .iter()
        .find_map(|l| l.split("serving ").nth(1)?.split_whitespace().next())
        .expect("the demo prints its URL")
        .to_string();
    let scrape = || {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "20", "--cacert"])
            .arg(dir.path().join("ca.crt"))
            .arg("--cert")
            .arg(dir.path().join("client.crt"))
            .arg("--key")
            .arg(dir.path().join("client.key"))
            .arg(format!("{url}/metrics"))
            .output()
            .expect("curl is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // The second scrape also sees the first one counted in the request families.
    scrape();
    let families = exported(&scrape());
    assert!(
        families.contains("tidecast_target_state") && families.contains("tidecast_http_requests"),
        "{families:?}"
    );
    // The comparison is not vacuous: a name the server does not export is caught.
    assert!(!is_exported(&families, "tidecast_target_model_age_seconds"));

    let mon = deploy().join("monitoring");
    for file in [
        "tidecast-dashboard.json",
        "tidecast.rules.yaml",
        "prometheusrule.yaml",
    ] {
        let text = std::fs::read_to_string(mon.join(file)).unwrap();
        let names = tidecast_names(&text);
        assert!(!names.is_empty(), "{file} names no tidecast metric");
        let missing: Vec<_> = names
            .iter()
            .filter(|n| !is_exported(&families, n))
            .collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics /metrics does not export: {missing:?} (exported: {families:?})"
        );
    }
}

/// A copy of the example config in a temporary directory, with the serving certificate and
/// key paths pointed at `cert` and `key` (inside the cluster they come from a Secret).
fn example_config(dir: &Path, cert: &str, key: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config_dir().join("tidecast.yaml"))
        .unwrap()
        .replace("/etc/tidecast/tls/tls.crt", cert)
        .replace("/etc/tidecast/tls/tls.key", key);
    std::fs::write(dir.join("tidecast.yaml"), text).unwrap();
    std::fs::copy(config_dir().join("holidays.csv"), dir.join("holidays.csv")).unwrap();
    dir.join("tidecast.yaml")
}

fn check(config: &Path) -> std::process::Output {
    TIDECAST.run(&["serve", "--check", "--config", config.to_str().unwrap()])
}

#[test]
fn the_example_config_validates() {
    let dir = tempfile::tempdir().unwrap();
    // A throwaway serving certificate, as the cluster's Secret would hold.
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.crt",
            "-subj",
            "/CN=tidecast.tidecast.svc",
            "-days",
            "1",
        ])
        .current_dir(dir.path())
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = check(&example_config(dir.path(), "tls.crt", "tls.key"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 3 targets"));
}

#[test]
fn check_reads_the_serving_certificate_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), "not a certificate\n").unwrap();
    let out = check(&example_config(dir.path(), "tls.crt", "missing.key"));
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls:") && err.contains("tls.crt"), "{err}");
}

#[test]
fn an_invalid_config_exits_64_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(config_dir().join("tidecast.yaml"))
        .unwrap()
        .replace("lead: 15m", "lead: soon");
    std::fs::write(dir.path().join("tidecast.yaml"), text).unwrap();
    std::fs::copy(
        config_dir().join("holidays.csv"),
        dir.path().join("holidays.csv"),
    )
    .unwrap();
    let out = check(&dir.path().join("tidecast.yaml"));
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("targets[0].lead") && err.contains("soon"),
        "{err}"
    );
}

/// `serve --check` refuses a `stale_after` that one missed refresh would cross, naming the
/// fields and the smallest sound value.
#[test]
fn check_refuses_a_stale_after_too_close_to_step_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "tls.crt", "tls.key");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("stale_after: 5m", "stale_after: 2m");
    std::fs::write(&config, text).unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("targets[0].stale_after: 2m is below step + 2 x refresh = 1m + 2 x 1m")
            && err.contains("the smallest sound value is 3m"),
        "{err}"
    );
}

/// `serve --check` reads the files the Prometheus settings name: a missing token file is a
/// configuration error naming the file.
#[test]
fn check_reads_the_prometheus_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "tls.crt", "tls.key");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "  # bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token",
        "  bearer_token_file: no-such-token",
    );
    std::fs::write(&config, text).unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    let token = dir.path().join("no-such-token");
    assert!(
        err.contains(&format!(
            "prometheus: reading the bearer token file {}: No such file",
            token.display()
        )),
        "{err}"
    );
}

/// The example config authenticates through the cluster (the default), and the key that
/// moved to `auth.client_ca_file` is gone from it: `serve --check` refuses it now.
#[test]
fn the_example_config_authenticates_through_the_cluster_and_drops_tls_client_ca_file() {
    let text = std::fs::read_to_string(config_dir().join("tidecast.yaml")).unwrap();
    let cfg: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(cfg["auth"]["source"], "cluster");
    assert_eq!(cfg["auth"]["authorization"], "subject_access_review");
    assert!(cfg["tls"].get("client_ca_file").is_none());

    let dir = tempfile::tempdir().unwrap();
    let config = example_config(dir.path(), "tls.crt", "tls.key");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "  reload_interval: 1m",
        "  reload_interval: 1m\n  client_ca_file: ca.crt",
    );
    std::fs::write(&config, text).unwrap();
    let out = check(&config);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tls.client_ca_file: moved to auth.client_ca_file"),
        "{err}"
    );
}
