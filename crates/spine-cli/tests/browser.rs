//! The web front end's suites, run inside `cargo test`: the pure modules' unit tests
//! (`crates/spine-server/web/test`, Node's test runner) and the browser suites
//! (`tests/browser/*.test.mjs`): the real `spine` binary driven through Debian's Chromium by
//! playwright-core. Needs Node.js and `/usr/bin/chromium` (Debian packages `nodejs`,
//! `chromium`); the npm packages are installed from the lock file when missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn node(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("node");
    cmd.args(args).current_dir(dir);
    cmd
}

#[test]
fn web_modules_pass_their_unit_tests() {
    let dir = workspace().join("crates/spine-server/web");
    let out = node(&["--test", "test/"], &dir).output().expect("node runs (install Node.js)");
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn the_activity_center_and_spine_feed_work_in_chromium() {
    let dir = workspace().join("crates/spine-cli/tests/browser");
    let chromium = std::env::var("SPINE_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "the browser suites need Chromium at {chromium}: `apt-get install chromium` \
         (or set SPINE_TEST_CHROMIUM)"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("npm runs (install Node.js and npm)");
        assert!(out.status.success(), "npm ci failed: {}", show(&out));
    }
    let out = node(&["--test", "--test-concurrency=1", "."], &dir)
        .env("SPINE_BIN", env!("CARGO_BIN_EXE_spine"))
        .env("SPINE_TEST_CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let report = show(&out);
    println!("{report}");
    assert!(out.status.success(), "{report}");
}
