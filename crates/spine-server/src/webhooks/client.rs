//! Sending one delivery: the HTTP client outbound webhooks use, with the SSRF guard applied where
//! names become addresses. A host given as an address is judged before connecting; a name is
//! resolved by [`GuardedResolver`], which drops every refused address, so a name that resolves
//! to loopback (or is re-pointed there after the endpoint was created) is never connected to.
//! Redirects are not followed (the target of one is not checked) and proxies from the
//! environment are not used.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use spine_core::webhook::address;
use spine_core::webhook::excerpt;
use spine_core::webhook::schedule::{Outcome, ATTEMPT_TIMEOUT};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An address the guard refused, as the delivery log names it.
#[derive(Debug, thiserror::Error)]
#[error("the address is refused: {0}")]
pub struct Refused(pub String);

/// Resolves names with the system resolver and keeps only the addresses a webhook may reach
/// (all of them when private targets are allowed).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// `webhook_allow_private`.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let (kept, why) = keep_allowed(found, allow_private);
            if kept.is_empty() {
                let why = why.unwrap_or("it does not resolve").to_owned();
                return Err(Box::new(Refused(format!("{} is {why}", name.as_str())))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses a webhook may reach, and why the first refused one was refused.
fn keep_allowed(
    found: Vec<SocketAddr>,
    allow_private: bool,
) -> (Vec<SocketAddr>, Option<&'static str>) {
    if allow_private {
        return (found, None);
    }
    let mut why = None;
    let kept = found
        .into_iter()
        .filter(|a| match address::refused(a.ip()) {
            Some(reason) => {
                why.get_or_insert(reason);
                false
            }
            None => true,
        })
        .collect();
    (kept, why)
}

/// Whether an endpoint URL may be created: its host, when an address, must be allowed; when a
/// name, none of the addresses it resolves to now may be refused (a name that does not resolve
/// yet is accepted: the guard judges it again at every connection).
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let url = reqwest::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => refused_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => refused_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
            Ok(found) => {
                for addr in found {
                    if let Some(why) = address::refused(addr.ip()) {
                        return Err(format!("names {name}, which resolves to {why}"));
                    }
                }
                Ok(())
            }
            Err(_) => Ok(()),
        },
        None => Err("must name a host".to_owned()),
    }
}

fn refused_ip(ip: IpAddr) -> Result<(), String> {
    match address::refused(ip) {
        Some(why) => Err(format!("is {why}")),
        None => Ok(()),
    }
}

/// The client deliveries are sent with.
pub fn client(allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("Spine-Webhooks/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(30))
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "building the webhook client failed; using the defaults");
            reqwest::Client::new()
        })
}

/// One signed delivery, ready to send.
pub struct Delivery<'a> {
    /// Where to.
    pub url: &'a str,
    /// `webhook-id`.
    pub message_id: &'a str,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`.
    pub signature: &'a str,
    /// The event as JSON.
    pub body: Vec<u8>,
}

/// What an attempt came to, for the log and the schedule.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The outcome, for [`spine_core::webhook::schedule::after`].
    pub outcome: Outcome,
    /// The answer's status, if any.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// How long it took.
    pub latency: Duration,
    /// The start of the answer's body.
    pub response: Option<String>,
}

/// Posts one delivery; never fails: every way it can go wrong is an outcome.
pub async fn send(client: &reqwest::Client, delivery: Delivery<'_>, allow_private: bool) -> Sent {
    let started = Instant::now();
    let failed = |error: String| Sent {
        outcome: Outcome::NoAnswer,
        status: None,
        error: Some(error),
        latency: started.elapsed(),
        response: None,
    };
    // A host written as an address never reaches the resolver: judge it here.
    if !allow_private {
        if let Ok(url) = reqwest::Url::parse(delivery.url) {
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(why) = ip.and_then(address::refused) {
                return failed(Refused(format!("the host is {why}")).to_string());
            }
        }
    }
    let request = client
        .post(delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", delivery.message_id)
        .header("webhook-timestamp", delivery.timestamp.to_string())
        .header("webhook-signature", delivery.signature)
        .body(delivery.body);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return failed(describe(&e)),
    };
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Only the start of the body is kept; the rest is not waited for.
    let mut body = Vec::new();
    while body.len() < spine_core::webhook::EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    Sent {
        outcome: Outcome::of_status(status, retry_after.as_deref()),
        status: Some(status),
        error: None,
        latency: started.elapsed(),
        response: (!body.is_empty()).then(|| excerpt(&body)),
    }
}

/// A failed request as the delivery log says it: the guard's refusal, a timeout, or the
/// innermost cause (never the URL's query, which may carry a receiver's token).
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = e.source();
    }
    if error.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    if error.is_connect() {
        return "the connection failed".to_owned();
    }
    let mut innermost: &dyn std::error::Error = error;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    format!("the request failed: {innermost}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolver_keeps_only_allowed_addresses() {
        let found: Vec<SocketAddr> = ["127.0.0.1:80", "93.184.216.34:80", "10.0.0.1:80"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let (kept, why) = keep_allowed(found.clone(), false);
        assert_eq!(kept, [found[1]]);
        assert_eq!(why, Some("a loopback address"));
        assert_eq!(keep_allowed(found.clone(), true).0, found);
    }

    #[tokio::test]
    async fn creation_refuses_literal_and_resolved_private_targets() {
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://10.1.2.3/",
            "http://[::ffff:192.168.0.1]/",
            "http://localhost:8080/in",
        ] {
            assert!(check_target(url, false).await.is_err(), "{url}");
            assert!(check_target(url, true).await.is_ok(), "{url} with private targets allowed");
        }
        assert!(check_target("https://93.184.216.34/hook", false).await.is_ok());
        assert!(check_target("https://unresolvable.invalid/hook", false).await.is_ok());
    }

    #[tokio::test]
    async fn sending_to_a_refused_target_never_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = client(false);
        for url in [format!("http://127.0.0.1:{port}/"), format!("http://localhost:{port}/")] {
            let sent = send(
                &c,
                Delivery {
                    url: &url,
                    message_id: "msg_1",
                    timestamp: 1,
                    signature: "v1,x",
                    body: b"{}".to_vec(),
                },
                false,
            )
            .await;
            assert_eq!(sent.outcome, Outcome::NoAnswer);
            let error = sent.error.unwrap();
            assert!(error.contains("refused") && error.contains("loopback"), "{url}: {error}");
        }
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "nothing connected");
    }
}
