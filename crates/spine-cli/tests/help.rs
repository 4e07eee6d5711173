//! `--help` through the real binary: each flag that stands for a setting names its `SPINE_*`
//! variable, without showing the value of a secret one.

mod common;

use common::{assert_success, text, Sandbox};

fn help(s: &Sandbox, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = s.command(args).envs(envs.iter().copied()).output().unwrap();
    assert_success(&out);
    text(&out.stdout)
}

#[test]
fn serve_help_shows_the_variable_beside_each_flag() {
    let s = Sandbox::new();
    let serve = help(&s, &["serve", "--help"], &[]);
    for (flag, variable) in [
        ("--listen", "[env: SPINE_LISTEN="),
        ("--cors-origin", "[env: SPINE_CORS_ORIGINS="),
        ("--db", "[env: SPINE_DB]"),
        ("--log", "[env: SPINE_LOG="),
        ("--log-format", "[env: SPINE_LOG_FORMAT="),
        ("--config", "[env: SPINE_CONFIG="),
    ] {
        assert!(serve.contains(flag) && serve.contains(variable), "{variable} missing:\n{serve}");
    }
    for command in ["emit", "tail"] {
        let out = help(&s, &[command, "--help"], &[]);
        for variable in ["[env: SPINE_URL=", "[env: SPINE_KEY]", "[env: SPINE_DB]"] {
            assert!(out.contains(variable), "spine {command}: {variable} missing:\n{out}");
        }
    }
}

/// A key or a database URL with a password in the environment is named, never printed.
#[test]
fn help_never_prints_a_secret_from_the_environment() {
    let s = Sandbox::new();
    let envs = [("SPINE_KEY", "spk_hunter2"), ("SPINE_DB", "postgres://u:hunter2@db/spine")];
    for command in ["serve", "emit", "tail"] {
        let out = help(&s, &[command, "--help"], &envs);
        assert!(out.contains("SPINE_DB"), "{out}");
        assert!(!out.contains("hunter2"), "spine {command} --help shows a secret:\n{out}");
    }
}

/// The demo never reads SPINE_DB (it names the real database), so its `--db` does not claim to.
#[test]
fn demo_help_does_not_claim_spine_db() {
    let s = Sandbox::new();
    let demo = help(&s, &["demo", "--help"], &[]);
    assert!(!demo.contains("[env: SPINE_DB"), "{demo}");
    assert!(demo.contains("demo.db"), "{demo}");
}
