//! Signatures made by an independent implementation: `tests/signers/sign.mjs`, which signs with
//! each provider's own SDK from npm (see its README). The packages are installed from the lock
//! file the first time a test needs them.

use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/signers")
}

/// One install at a time (tests run in parallel threads of one process).
static INSTALL: Mutex<()> = Mutex::new(());

pub fn ensure_installed() {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if dir().join("node_modules/stripe").exists() {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir())
        .output()
        .expect("npm runs (install Node.js and npm)");
    assert!(out.status.success(), "npm ci failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The headers `provider`'s SDK adds to a request of `body` to `url` under `secret`.
/// `extra` may set `timestamp` (Unix seconds), `id`, `method` or `params`.
pub fn sign(
    provider: &str,
    secret: &str,
    url: &str,
    body: &str,
    extra: Value,
) -> Vec<(String, String)> {
    ensure_installed();
    let mut request = json!({"secret": secret, "body": body, "url": url, "method": "POST"});
    if let (Some(request), Value::Object(extra)) = (request.as_object_mut(), extra) {
        request.extend(extra);
    }
    let mut child = Command::new("node")
        .args(["sign.mjs", provider])
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (install Node.js)");
    child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("the signer finishes");
    assert!(out.status.success(), "sign.mjs {provider}: {}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the signer prints JSON");
    answer["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().expect("text").to_owned()))
        .collect()
}
