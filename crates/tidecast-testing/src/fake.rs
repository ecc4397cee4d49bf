use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with this status and body.
    Status(u16, String),
    /// Accept, read the request, and never answer (until the test ends).
    Hang,
    /// Send headers promising a long body, send part of it, and stall.
    HangMidBody,
}

/// A tiny threaded HTTP/1.1 server on 127.0.0.1 that answers request `i` with
/// `script[min(i, len - 1)]`, counts requests and keeps what each one sent.
#[derive(Debug)]
pub struct FakeHttp {
    port: u16,
    requests: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<String>>>,
}

impl FakeHttp {
    /// Start serving the script.
    pub fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (counter, sink) = (requests.clone(), received.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let i = counter.fetch_add(1, Ordering::SeqCst);
                let reply = script[i.min(script.len() - 1)].clone();
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let n = conn.read(&mut buf).unwrap_or(0);
                    // Kept before answering, so a client that has its answer finds it here.
                    sink.lock()
                        .expect("no panics while held")
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    match reply {
                        Reply::Status(code, body) => {
                            let _ = write!(
                                conn,
                                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                        Reply::Hang => std::thread::sleep(Duration::from_secs(120)),
                        Reply::HangMidBody => {
                            let _ = write!(
                                conn,
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"status\":\"success\",\"data\":{{"
                            );
                            let _ = conn.flush();
                            std::thread::sleep(Duration::from_secs(120));
                        }
                    }
                });
            }
        });
        Self {
            port,
            requests,
            received,
        }
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// What each request sent (request line, headers and the start of the body), in the
    /// order they were read.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("no panics while held").clone()
    }
}
