//! The server's RFC 9457 problems, read back and shown to a person: status, title, detail and
//! each field error on its own line.

use crate::error::CliError;
use serde::Deserialize;
use std::fmt;

/// A problem document as the server sends it; every part optional, since a proxy in between may
/// answer with something else entirely.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    /// Short summary of the kind, e.g. `Unprocessable Entity`.
    #[serde(default)]
    pub title: Option<String>,
    /// The HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// What went wrong with this request.
    #[serde(default)]
    pub detail: Option<String>,
    /// Field-level errors, for validation and conflicts.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One field error of a problem.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    /// Path of the field, e.g. `events[3].title`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// Reads a failed response into a problem; a body that is not a problem becomes the detail.
    pub async fn from_response(response: reqwest::Response) -> Self {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let mut problem = serde_json::from_str::<Problem>(&text).unwrap_or_else(|_| Problem {
            detail: Some(text.trim().chars().take(300).collect::<String>())
                .filter(|d| !d.is_empty()),
            ..Problem::default()
        });
        problem.status = problem.status.or(Some(status.as_u16()));
        if problem.title.is_none() {
            problem.title = status.canonical_reason().map(str::to_owned);
        }
        problem
    }

    /// The field errors as `field: message` lines.
    pub fn field_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.errors.iter().map(|e| format!("{}: {}", e.field, e.message))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the server answered")?;
        if let Some(status) = self.status {
            write!(f, " {status}")?;
        }
        if let Some(title) = &self.title {
            write!(f, " {title}")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for line in self.field_lines() {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

impl From<Problem> for CliError {
    fn from(p: Problem) -> Self {
        CliError::new(p.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_status_title_detail_and_fields() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:spine:problem:validation","title":"Unprocessable Entity","status":422,
               "detail":"the request body is invalid","errors":[{"field":"title","message":"is required"}]}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            p.to_string(),
            "the server answered 422 Unprocessable Entity: the request body is invalid\n  title: is required"
        );
    }
}
