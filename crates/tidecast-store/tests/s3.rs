//! The S3 store against a real S3-compatible server on loopback: moto's server mode
//! (`moto_server`, from PyPI; `.ci/run` installs it into ~/.cache/tidecast-moto).

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tidecast_store::{S3Store, Store, StoreError};

/// moto's server: on $PATH, or where `.ci/run` installs it.
fn moto_server() -> std::path::PathBuf {
    let cached = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/tidecast-moto/bin/moto_server");
    if cached.exists() {
        return cached;
    }
    match Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => "moto_server".into(),
        Err(_) => panic!(
            "moto_server not found: python3 -m venv ~/.cache/tidecast-moto && ~/.cache/tidecast-moto/bin/pip install 'moto[server]'"
        ),
    }
}

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let port = tidecast_testing::free_port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let m = Moto { child, port };
    tidecast_testing::poll(Duration::from_secs(30), Duration::from_millis(100), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("moto listening");
    // Create the bucket (moto accepts unsigned requests).
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PUT",
            &format!("http://127.0.0.1:{port}/models"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m
}

fn store(m: &Moto, prefix: &str) -> S3Store {
    let endpoint = format!("http://127.0.0.1:{}", m.port);
    S3Store::open_with(
        &format!("s3://models/{prefix}"),
        &[
            ("endpoint", &endpoint),
            ("allow_http", "true"),
            ("access_key_id", "test"),
            ("secret_access_key", "test"),
            ("region", "us-east-1"),
        ],
    )
    .unwrap()
}

#[test]
fn the_s3_store_publishes_lists_rolls_back_and_prunes_like_the_directory_store() {
    let m = moto();
    let s = store(&m, "cluster-a");
    assert_eq!(s.current("tv-api").unwrap(), None);
    assert!(s.targets().unwrap().is_empty());
    let v1 = s.publish("tv-api", b"one", 1_000).unwrap();
    let v2 = s.publish("tv-api", b"two", 2_000).unwrap();
    let v3 = s.publish("tv-api", b"three", 3_000).unwrap();
    s.publish("epg", b"epg", 1_000).unwrap();
    assert_eq!(
        s.versions("tv-api").unwrap(),
        vec![v1.clone(), v2.clone(), v3.clone()]
    );
    assert_eq!(s.current("tv-api").unwrap(), Some(v3.clone()));
    assert_eq!(s.read("tv-api", &v2).unwrap(), b"two");
    assert_eq!(s.targets().unwrap(), ["epg", "tv-api"]);
    s.set_current("tv-api", &v1).unwrap();
    assert_eq!(s.current("tv-api").unwrap(), Some(v1.clone()));
    // Pruning keeps the current version even when it is the oldest.
    assert_eq!(s.prune("tv-api", 1).unwrap(), vec![v2.clone()]);
    assert_eq!(s.versions("tv-api").unwrap(), vec![v1.clone(), v3.clone()]);
    assert!(matches!(
        s.read("tv-api", &v2),
        Err(StoreError::NoSuchVersion { .. })
    ));
    assert!(matches!(
        s.set_current("tv-api", "v0"),
        Err(StoreError::NoSuchVersion { .. })
    ));
    // Another prefix is another store.
    assert!(store(&m, "cluster-b").targets().unwrap().is_empty());
    // Publishing the same bytes at the same millisecond again is idempotent.
    assert_eq!(s.publish("tv-api", b"three", 3_000).unwrap(), v3);
}

#[test]
fn an_unreachable_s3_endpoint_is_a_clear_error() {
    let port = tidecast_testing::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let s = S3Store::open_with(
        "s3://models/x",
        &[
            ("endpoint", &endpoint),
            ("allow_http", "true"),
            ("access_key_id", "test"),
            ("secret_access_key", "test"),
            ("region", "us-east-1"),
        ],
    )
    .unwrap();
    let e = s.publish("tv-api", b"x", 1).unwrap_err().to_string();
    assert!(e.starts_with("writing s3://models/x"), "{e}");
}
