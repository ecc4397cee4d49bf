//! The live board: the real demo's page in headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs), and the board's own access rule on a real `tidecast serve`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tidecast_testing::{Binary, Running, free_port, poll};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));
const PATIENCE: Duration = Duration::from_secs(60);

/// The status code and body of a plain HTTP GET (curl, bounded in time).
fn get(url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Headless Chromium with the flags this machine's closed network needs, a fresh profile.
fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a headless Chromium: apt-get install chromium (.ci/run installs it)");
    Command::new("timeout")
        .arg("60")
        .arg(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// The demo (its board on a free port) and the board's URL, once every service is fresh.
fn demo_with_board(dir: &Path) -> (Running, String) {
    let demo = TIDECAST.spawn(&[
        "demo",
        "--port",
        "0",
        "--board-port",
        "0",
        "--speed",
        "60",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let lines = demo.stdout_until("The live board", PATIENCE);
    let url = lines
        .last()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .expect("the board's URL is printed")
        .to_string();
    poll(PATIENCE, Duration::from_millis(300), || {
        let (code, body) = get(&url, &[]);
        (code == 200 && body.matches("data-state=\"fresh\"").count() == 3).then_some(())
    })
    .expect("all three services fresh on the board");
    (demo, url)
}

/// What a wall display shows, as the browser renders it: every service with its served
/// value, state, data age, recent actual and band, and a screenshot to look at.
#[test]
fn the_demo_board_shows_every_service_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (_demo, url) = demo_with_board(&dir.path().join("pki"));
    let profile = dir.path().join("profile");
    let out = chromium(&profile, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains("3 targets, 3 shown"), "{dom}");
    assert!(dom.contains("fresh: 3"), "the state counts");
    for service in ["tv-api", "epg", "login"] {
        let at = dom
            .find(&format!("data-target=\"{service}\""))
            .unwrap_or_else(|| panic!("{service} has a card"));
        let card = &dom[at..dom[at..].find("</svg>").map_or(dom.len(), |e| at + e)];
        let served = card
            .split("data-served=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a served value");
        assert!(
            served != "\u{2014}" && !served.is_empty(),
            "{service} serves: {card}"
        );
        assert!(
            card.contains("s old") && card.contains("fresh"),
            "age and state: {card}"
        );
        assert!(card.contains("class=\"band\""), "the band ahead: {card}");
        assert!(
            card.contains("class=\"actual\""),
            "the recent actual: {card}"
        );
        assert!(
            card.contains("class=\"served\" x1="),
            "the served level: {card}"
        );
    }
    let png = dir.path().join("board.png");
    let out = chromium(
        &profile,
        &[&format!("--screenshot={}", png.display()), &url],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let image = std::fs::read(&png).expect("a screenshot");
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    assert!(image.len() > 10_000, "a page with content, not a blank one");
    // Copied out for a person to look at when TIDECAST_BOARD_SCREENSHOT names a file.
    if let Ok(keep) = std::env::var("TIDECAST_BOARD_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

/// `tidecast serve` with a board section `board` (and the demo's certificates for the API).
fn serve_with_board(dir: &Path, board: &str) -> (Running, u16) {
    let pki = dir.join("pki");
    TIDECAST
        .spawn(&["demo", "--port", "0", "--dir", pki.to_str().unwrap()])
        .stdout_until("tidecast demo: serving", PATIENCE);
    let (api, port, nothing) = (free_port(), free_port(), free_port());
    let cfg = dir.join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{api}\nprometheus: {{url: \"http://127.0.0.1:{nothing}\"}}\n\
             tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}\n\
             auth: {{source: files, client_ca_file: pki/ca.crt, authorization: allow_authenticated}}\n\
             board: {{listen: \"127.0.0.1:{port}\", {board}}}\n\
             targets:\n  - {{name: a, metric: m, query: 'sum(up)'}}\n"
        ),
    )
    .unwrap();
    let proc = TIDECAST.spawn(&["serve", "--config", cfg.to_str().unwrap()]);
    poll(PATIENCE, Duration::from_millis(200), || {
        (get(&format!("http://127.0.0.1:{port}/"), &[]).0 != 0).then_some(())
    })
    .expect("the board listens");
    (proc, port)
}

/// The board has its own rule, apart from the API's authentication: the source network,
/// then the token (a header, or the query for displays that cannot set one).
#[test]
fn the_board_admits_only_its_networks_and_the_right_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "wall-display-secret\n").unwrap();
    let (_serve, port) = serve_with_board(dir.path(), "token_file: token");
    let url = format!("http://127.0.0.1:{port}/");
    let (code, body) = get(&url, &[]);
    assert_eq!(code, 401, "no token: {body}");
    assert!(body.contains("token is required"));
    assert_eq!(get(&format!("{url}?token=wrong"), &[]).0, 401);
    let (code, body) = get(&format!("{url}?token=wall-display-secret"), &[]);
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("data-target=\"a\"") && body.contains("no_data"),
        "{body}"
    );
    let bearer = ["-H", "Authorization: Bearer wall-display-secret"];
    assert_eq!(get(&url, &bearer).0, 200);

    let other = tempfile::tempdir().unwrap();
    let (_serve, port) = serve_with_board(other.path(), "allow: [10.0.0.0/8]");
    let (code, body) = get(&format!("http://127.0.0.1:{port}/"), &[]);
    assert_eq!(code, 403, "loopback is not in 10.0.0.0/8: {body}");
    assert!(body.contains("127.0.0.1 is not in board.allow"), "{body}");
}
