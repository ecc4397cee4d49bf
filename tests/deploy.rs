//! The shipped deployment renders with kustomize and its config validates.

use std::path::Path;
use std::process::Command;
use tidecast_testing::{Binary, repo_path};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

fn deploy() -> std::path::PathBuf {
    repo_path("deploy")
}

#[test]
fn the_kustomization_renders_every_object() {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy())
        .output()
        .expect("kubectl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRoleBinding",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "APIService",
    ] {
        assert!(text.contains(&format!("kind: {kind}\n")), "missing {kind}");
    }
    assert!(text.contains("name: v1beta1.external.metrics.k8s.io"));
    assert!(
        text.contains("holidays.csv: |"),
        "the holiday calendar ships in the ConfigMap"
    );
}

/// A copy of the example config in a temporary directory, with the serving certificate and
/// key paths pointed at `cert` and `key` (inside the cluster they come from a Secret).
fn example_config(dir: &Path, cert: &str, key: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(deploy().join("tidecast.yaml"))
        .unwrap()
        .replace("/etc/tidecast/tls/tls.crt", cert)
        .replace("/etc/tidecast/tls/tls.key", key);
    std::fs::write(dir.join("tidecast.yaml"), text).unwrap();
    std::fs::copy(deploy().join("holidays.csv"), dir.join("holidays.csv")).unwrap();
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
    let text = std::fs::read_to_string(deploy().join("tidecast.yaml"))
        .unwrap()
        .replace("lead: 15m", "lead: soon");
    std::fs::write(dir.path().join("tidecast.yaml"), text).unwrap();
    std::fs::copy(
        deploy().join("holidays.csv"),
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
