//! An independent webhook receiver (`tests/signers/receiver.mjs`, Node with the
//! `standardwebhooks` package) for the outbound webhook tests: it verifies every delivery with
//! the reference library and answers as scripted.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running receiver; killed when dropped.
pub struct Receiver {
    child: Child,
    /// Where it listens.
    pub port: u16,
    http: reqwest::Client,
}

impl Receiver {
    /// Starts one (installing the npm packages the first time).
    pub fn start() -> Self {
        super::signer::ensure_installed();
        let mut child = Command::new("node")
            .arg("receiver.mjs")
            .current_dir(super::signer::dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (install Node.js)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port");
        let port = serde_json::from_str::<Value>(&line).expect("json")["port"]
            .as_u64()
            .expect("a port") as u16;
        Self { child, port, http: reqwest::Client::new() }
    }

    /// The URL deliveries go to.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The secret to verify with, the statuses to answer next, `Retry-After`, a delay.
    pub async fn script(
        &self,
        secret: &str,
        statuses: &[u16],
        retry_after: Option<u64>,
        delay_ms: u64,
    ) {
        let control = json!({"secret": secret, "statuses": statuses, "retry_after": retry_after,
                             "delay_ms": delay_ms});
        self.http.post(self.url("/control")).json(&control).send().await.expect("control");
    }

    /// Every delivery so far, in arrival order.
    pub async fn received(&self) -> Vec<Value> {
        let answer = self.http.get(self.url("/received")).send().await.expect("received");
        answer.json::<Vec<Value>>().await.expect("json")
    }

    /// Waits (at most `within`) until `done` holds for what was received; returns it.
    pub async fn until(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received().await;
            if done(&received) || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ids of the deliveries answered 2xx, in arrival order.
pub fn delivered_ids(received: &[Value]) -> Vec<String> {
    received
        .iter()
        .filter(|r| r["status"].as_u64().is_some_and(|s| (200..300).contains(&s)))
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}
