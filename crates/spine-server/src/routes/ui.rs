//! The Activity Center and `<spine-feed>` (SPEC section 9): static files embedded in the binary
//! from `crates/spine-server/web/`, served with strict security headers. The pages are clients of
//! the public API like any product's app; nothing here reads the store.
//!
//! - `/ui/**`: the Activity Center's modules and styles; the page paths (`/`, `/entities/...`,
//!   `/events/...`, `/work`, `/agents`, `/admin/...`) all serve `ui/index.html`, which routes in
//!   the browser.
//! - `/embed/**`: `spine-feed.js`, the modules it shares with the Activity Center, and an example
//!   page; readable from any origin (`Access-Control-Allow-Origin: *`), since other sites import
//!   them.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The Activity Center's files, embedded at build time (`web/ui/`).
#[derive(rust_embed::RustEmbed)]
#[folder = "web/ui/"]
struct UiAssets;

/// `<spine-feed>` and what it shares with the Activity Center (`web/embed/`).
#[derive(rust_embed::RustEmbed)]
#[folder = "web/embed/"]
struct EmbedAssets;

/// What the Activity Center's pages may load and run: only this origin's own files, no inline
/// script or style, and no framing.
pub const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The web routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/entities/{entity_type}/{entity_id}", get(page))
        .route("/events/{id}", get(page))
        .route("/work", get(page))
        .route("/agents", get(page))
        .route("/admin", get(page))
        .route("/admin/{section}", get(page))
        .route("/ui/{*path}", get(ui_file))
        .route("/embed/{*path}", get(embed_file))
}

/// Any Activity Center page: the one HTML document, which routes in the browser.
async fn page(headers: HeaderMap) -> Response {
    serve(UiAssets::get("index.html"), "index.html", &headers, Exposure::Page)
}

async fn ui_file(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches("/ui/");
    serve(UiAssets::get(path), path, req.headers(), Exposure::SameOrigin)
}

async fn embed_file(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches("/embed/");
    serve(EmbedAssets::get(path), path, req.headers(), Exposure::AnyOrigin)
}

/// Who may use a file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exposure {
    /// A page of the Activity Center: the strict content security policy.
    Page,
    /// A module or style of the Activity Center.
    SameOrigin,
    /// A file other sites load (`<spine-feed>` and its modules).
    AnyOrigin,
}

/// One embedded file, revalidated by its hash (`ETag`), so a new binary's files are picked up
/// at once and an unchanged file costs a 304.
fn serve(
    file: Option<rust_embed::EmbeddedFile>,
    path: &str,
    headers: &HeaderMap,
    exposure: Exposure,
) -> Response {
    let Some(file) = file else { return ApiError::NotFound.into_response() };
    let etag = format!("\"{}\"", spine_core::idempotency::hex(&file.metadata.sha256_hash()[..16]));
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = file.data.into_owned().into_response();
        if let Ok(v) = HeaderValue::from_str(content_type(path)) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    match exposure {
        Exposure::Page => {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        }
        Exposure::SameOrigin => {}
        Exposure::AnyOrigin => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            if path.ends_with(".html") {
                h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
            }
        }
    }
    response
}

/// The content type of a web file, by extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("ui/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("embed/spine-feed.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("ui/style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("ui/LICENSE"), "application/octet-stream");
    }
}
