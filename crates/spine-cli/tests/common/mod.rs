//! Shared helpers for the CLI's integration tests: run the real `spine` binary in its own
//! temporary directory, with no `SPINE_*` variables leaking in from the environment.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_spine");

/// A temporary working directory for one test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `sqlite://` URL for a database file in the sandbox.
    pub fn db(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    /// `spine ARGS` in the sandbox, with a clean `SPINE_*` environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.dir.path()).env("SPINE_LOG", "warn");
        for (name, _) in std::env::vars() {
            if name.starts_with("SPINE_") && name != "SPINE_LOG" {
                cmd.env_remove(name);
            }
        }
        cmd
    }

    /// Runs `spine ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs `spine ARGS` with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8], envs: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(args);
        cmd.envs(envs.iter().copied());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// Runs `spine ARGS`, asserts success and parses stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}): {}", text(&out.stdout))
        })
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "spine failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Asserts a clean failure: non-zero exit, an `error:` line, no panic.
pub fn assert_clean_failure(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success: {}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("error: "), "no error line: {stderr}");
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
    stderr
}

/// A `spine serve` child on port 0, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    /// Starts `spine serve --listen 127.0.0.1:0 --db DB` and reads its URL from stdout.
    pub fn start(sandbox: &Sandbox, db: &str) -> Self {
        let server = Self::try_start(sandbox, db, "127.0.0.1:0");
        server.expect("spine serve printed `listening on http://127.0.0.1:PORT`")
    }

    /// `spine serve` on `listen`, or `None` when it could not bind (e.g. the port is still
    /// taken by a server that was just killed).
    pub fn try_start(sandbox: &Sandbox, db: &str, listen: &str) -> Option<Self> {
        Self::spawn(sandbox, &["serve", "--listen", listen, "--db", db], Stdio::inherit())
    }

    /// `spine serve` on port 0 logging at `debug` into `log` (for tests that check what the
    /// log never holds). Stop it with [`Server::stop`] before reading the log.
    pub fn start_logging(sandbox: &Sandbox, db: &str, log: &Path) -> Self {
        let file = std::fs::File::create(log).unwrap();
        let args = ["serve", "--listen", "127.0.0.1:0", "--db", db, "--log", "debug"];
        Self::spawn(sandbox, &args, file.into()).expect("spine serve printed its URL")
    }

    /// Kills the server and waits for it (its log is complete afterwards).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn(sandbox: &Sandbox, args: &[&str], stderr: Stdio) -> Option<Self> {
        use std::io::{BufRead, BufReader};
        let mut child = sandbox
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(url) =
            first.strip_prefix("listening on ").filter(|u| u.starts_with("http://127.0.0.1:"))
        else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        let url = url.trim().to_owned();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Some(Self { child, url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `path` exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}
