//! The command line's one error type: a message for the operator and the exit code to leave with.

use spine_store::StoreError;
use std::fmt;

/// Why a command failed, phrased for the person who ran it.
#[derive(Debug)]
pub struct CliError {
    /// What to print after `error: `.
    message: String,
}

impl CliError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// The same error with some context in front, e.g. the file being read.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self { message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        Self::new(format!("database: {e}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<figment::Error> for CliError {
    fn from(e: figment::Error) -> Self {
        Self::new(format!("configuration: {e}"))
    }
}

impl From<reqwest::Error> for CliError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display omits the cause ("error sending request"); the chain says why.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Self::new(message)
    }
}

/// Shorthand for command results.
pub type CliResult<T> = Result<T, CliError>;

/// A JSON error for one line of NDJSON: serde's message with the column, without its
/// "at line 1" (the caller names the real line).
pub fn json_line_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m);
    format!("{message} (column {})", e.column())
}
