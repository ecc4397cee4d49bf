//! Running the binary under test.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// The binary under test, named by the path Cargo gives integration tests:
/// `const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));`
#[derive(Debug, Clone, Copy)]
pub struct Binary(&'static str);

impl Binary {
    /// The binary at `path`.
    pub const fn new(path: &'static str) -> Self {
        Self(path)
    }

    /// A command for it, to add arguments, environment or redirections to.
    pub fn command(&self) -> Command {
        Command::new(self.0)
    }

    /// Run it with `args` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("the binary runs")
    }

    /// Run it with `args`; panics with its stderr unless it succeeds. Returns its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}): {}",
            self.0,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Start it with `args`, its stdout and stderr read line by line in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.command().args(args))
    }
}

impl Running {
    /// Start `cmd` (from [`Binary::command`], with its arguments and environment), its
    /// stdout and stderr read line by line in the background.
    pub fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = lines(child.stdout.take().expect("piped"));
        let stderr = lines(child.stderr.take().expect("piped"));
        Running {
            child,
            stdout,
            stderr,
        }
    }
}

/// Lines of `r` as they come, on a channel (read on a thread so the child never blocks on a
/// full pipe).
fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running binary, killed when dropped.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Running {
    /// Its process ID (to send it signals).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("the child can be waited for")
    }

    /// Stdout lines up to and including the first that contains `until`; panics with the
    /// lines read if none arrives within `limit` (a harness timeout, not an assertion on
    /// speed).
    #[track_caller]
    pub fn stdout_until(&self, until: &str, limit: Duration) -> Vec<String> {
        until_line(&self.stdout, until, limit, "stdout")
    }

    /// [`Running::stdout_until`] on stderr.
    #[track_caller]
    pub fn stderr_until(&self, until: &str, limit: Duration) -> Vec<String> {
        until_line(&self.stderr, until, limit, "stderr")
    }

    /// The next stdout line, waiting at most `limit`.
    pub fn next_stdout(&self, limit: Duration) -> Option<String> {
        self.stdout.recv_timeout(limit).ok()
    }

    /// The next stderr line, waiting at most `limit`.
    pub fn next_stderr(&self, limit: Duration) -> Option<String> {
        self.stderr.recv_timeout(limit).ok()
    }

    /// The stderr lines that have arrived so far.
    pub fn stderr_so_far(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }
}

#[track_caller]
fn until_line(rx: &Receiver<String>, until: &str, limit: Duration, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let found = crate::poll(limit, Duration::ZERO, || {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                let done = l.contains(until);
                seen.push(l);
                done.then_some(())
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(()),
        }
    });
    assert!(
        found.is_some() && seen.last().is_some_and(|l| l.contains(until)),
        "no {name} line containing {until:?} within {limit:?}; got {seen:?}"
    );
    seen
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
