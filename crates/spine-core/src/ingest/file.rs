//! The `file` provider: multipart uploads to `POST /v1/ingest/{channel}/files` (SPEC section 6).
//! A tenant key allowed to ingest, or the channel's key (`X-Ingestion-Key` or bearer),
//! authenticates; each file becomes one event (`data.file = {sha256, name, size,
//! content_type}`), de-duplicated on its content hash. The upload itself streams through the
//! server's files route; here is what is pure: authentication, and the event a stored file
//! makes ([`draft`]).

use super::generic::verify_channel_key;
use super::verify::VerifyError;
use super::{Auth, Context, Draft, FailedAnswer, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use serde_json::json;

/// The `file` provider.
pub struct File;

/// A stored file as the JSON the event carries in `data.file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// The sanitized name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The sniffed content type.
    pub content_type: String,
}

/// The event one uploaded file makes: `file.uploaded` (or the channel's type), its delivery
/// the content hash, so the same file sent again is a repeat.
pub fn draft(file: &StoredFile) -> Draft {
    let title = super::clip(&format!("File uploaded: {}", file.name), 512);
    let payload = json!({"file": {
        "sha256": file.sha256, "name": file.name, "size": file.size,
        "content_type": file.content_type,
    }});
    Draft::new("file.uploaded", title, Provider::File.as_str(), payload.clone())
        .action("created")
        .object("file", &file.sha256)
        .data(payload)
        .delivery(format!("sha256:{}", file.sha256))
}

impl Source for File {
    fn provider(&self) -> Provider {
        Provider::File
    }

    fn auth(&self) -> Auth {
        Auth::KeyOrChannelSecret
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type", "content-length"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify_channel_key(request.headers, secrets)
    }

    fn delivery_id(&self, _: &Stored) -> Option<String> {
        None
    }

    /// Files are not read from a stored body: they arrive at `.../files` as multipart.
    fn normalize(&self, _: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        Err(Unreadable("a file channel takes multipart uploads at its /files URL".to_owned()))
    }

    fn failed_answer(&self) -> FailedAnswer {
        FailedAnswer::Reject
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::EventLimits;

    #[test]
    fn a_file_makes_a_valid_event_keyed_by_its_content() {
        let file = StoredFile {
            sha256: "ab".repeat(32),
            name: "report.pdf".into(),
            size: 1234,
            content_type: "application/pdf".into(),
        };
        let draft = draft(&file);
        assert_eq!(draft.delivery_id.as_deref(), Some(&*format!("sha256:{}", "ab".repeat(32))));
        assert_eq!(draft.event.title.as_deref(), Some("File uploaded: report.pdf"));
        let data = draft.event.data.clone().unwrap();
        assert_eq!(data["file"]["size"], json!(1234));
        let valid = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
        assert!(valid.is_ok(), "{valid:?}");
    }
}
