//! The user's profile for the commands a coding agent runs (`spine hook`): the server, a key and
//! the `claude-code` channel, written by `spine login` to `$XDG_CONFIG_HOME/spine/profile.toml`
//! (`~/.config/spine/profile.toml` by default) with 0600 permissions. `SPINE_URL`, `SPINE_KEY`
//! and `SPINE_CHANNEL` win over the file, field by field.

use crate::error::{CliError, CliResult};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `spine login` stores.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The server, e.g. `https://spine.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// An ingest (or admin) key of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The `claude-code` channel's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("channel", &self.channel)
            .finish()
    }
}

/// Where everything a hook needs comes from, resolved: every field is set.
#[derive(Clone)]
pub struct Target {
    /// The server, without a trailing slash.
    pub url: String,
    /// The key.
    pub key: String,
    /// The channel id.
    pub channel: String,
}

impl Profile {
    /// The profile's path: `$XDG_CONFIG_HOME/spine/profile.toml`, else
    /// `$HOME/.config/spine/profile.toml`.
    pub fn path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("spine").join("profile.toml"))
    }

    /// The stored profile; an empty one when there is no file.
    pub fn load() -> CliResult<Self> {
        let Some(path) = Self::path() else { return Ok(Self::default()) };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| CliError::new(format!("{}: {}", path.display(), e.message()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::from(e).context(path.display())),
        }
    }

    /// Writes the profile, readable by its owner only (the directory too).
    pub fn save(&self) -> CliResult<PathBuf> {
        let path =
            Self::path().ok_or_else(|| CliError::new("neither XDG_CONFIG_HOME nor HOME is set"))?;
        let dir = path.parent().ok_or_else(|| CliError::new("the profile has no directory"))?;
        std::fs::create_dir_all(dir).map_err(|e| CliError::from(e).context(dir.display()))?;
        let text = toml::to_string(self).map_err(|e| CliError::new(e.to_string()))?;
        write_private(&path, text.as_bytes())?;
        Ok(path)
    }

    /// The file's fields under the variables: each of `SPINE_URL`, `SPINE_KEY` and
    /// `SPINE_CHANNEL` that is set and not empty wins; `None` while one is missing.
    pub fn resolve(&self, var: impl Fn(&str) -> Option<String>) -> Option<Target> {
        let pick = |name: &str, stored: &Option<String>| {
            var(name).filter(|v| !v.trim().is_empty()).or_else(|| stored.clone())
        };
        Some(Target {
            url: pick("SPINE_URL", &self.url)?.trim_end_matches('/').to_owned(),
            key: pick("SPINE_KEY", &self.key)?,
            channel: pick("SPINE_CHANNEL", &self.channel)?,
        })
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it, created with mode 0600.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> CliResult<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::from(e).context(path.display())
    })
}

/// Arguments of `spine login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's URL
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// An ingest key of the tenant (stored in the profile, readable by you only)
    #[arg(long, value_name = "KEY")]
    pub key: String,
    /// The id of the tenant's `claude-code` channel
    #[arg(long, value_name = "ID")]
    pub channel: String,
}

/// Runs `spine login`: stores the profile and says where (never the key).
pub fn login(args: LoginArgs) -> CliResult<()> {
    let url = args.url.trim().trim_end_matches('/').to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CliError::new("--url must start with http:// or https://"));
    }
    for (name, value) in [("--key", &args.key), ("--channel", &args.channel)] {
        if value.trim().is_empty() {
            return Err(CliError::new(format!("{name} must not be empty")));
        }
    }
    let profile =
        Profile { url: Some(url.clone()), key: Some(args.key), channel: Some(args.channel) };
    let path = profile.save()?;
    println!("saved {} (server {url}); `spine hook` reads it", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_win_over_the_file_field_by_field() {
        let file = Profile {
            url: Some("http://file/".into()),
            key: Some("file-key".into()),
            channel: Some("ch_file".into()),
        };
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let t = file.resolve(env(&[])).expect("complete");
        assert_eq!(
            (t.url.as_str(), t.key.as_str(), t.channel.as_str()),
            ("http://file", "file-key", "ch_file")
        );
        let t =
            file.resolve(env(&[("SPINE_KEY", "env-key"), ("SPINE_URL", " ")])).expect("complete");
        assert_eq!((t.url.as_str(), t.key.as_str()), ("http://file", "env-key"));
        assert!(Profile::default().resolve(env(&[("SPINE_URL", "http://x")])).is_none());
        assert!(!format!("{file:?}").contains("file-key"), "the key never reaches a debug print");
    }
}
