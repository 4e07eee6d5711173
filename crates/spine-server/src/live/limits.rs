//! Limits on open streams, per tenant and per node (SPEC section 11): a stream holds a
//! [`StreamPermit`] for its whole life, and the permit's drop gives the place back.

use super::SUBSCRIBERS;
use crate::error::ApiError;
use spine_core::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counts open streams.
pub struct StreamLimits {
    total_max: usize,
    tenant_max: usize,
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    tenants: HashMap<TenantId, usize>,
}

impl StreamLimits {
    /// At most `total_max` streams on the node and `tenant_max` per tenant.
    pub fn new(total_max: usize, tenant_max: usize) -> Arc<Self> {
        Arc::new(Self { total_max, tenant_max, open: Mutex::new(Counts::default()) })
    }

    /// A place for one more stream of `tenant`: a 503 problem when the node is full, a 429
    /// when the tenant is.
    pub fn acquire(self: &Arc<Self>, tenant: &TenantId) -> Result<StreamPermit, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.total_max {
            metrics::counter!(super::REJECTED, "reason" => "server_full").increment(1);
            return Err(ApiError::ServerFull(
                "this server has as many open streams as it allows; retry later or elsewhere"
                    .into(),
            ));
        }
        let of_tenant = open.tenants.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.tenant_max {
            metrics::counter!(super::REJECTED, "reason" => "tenant_full").increment(1);
            return Err(ApiError::TooManyStreams(format!(
                "this tenant has {of_tenant} open streams, the most allowed; close one or retry later"
            )));
        }
        open.total += 1;
        open.tenants.insert(tenant.clone(), of_tenant + 1);
        metrics::gauge!(SUBSCRIBERS).increment(1.0);
        Ok(StreamPermit { limits: self.clone(), tenant: tenant.clone() })
    }

    /// Streams open now, on the node and of `tenant`.
    pub fn open(&self, tenant: &TenantId) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (open.total, open.tenants.get(tenant).copied().unwrap_or(0))
    }
}

/// One open stream's place; dropping it frees the place.
pub struct StreamPermit {
    limits: Arc<StreamLimits>,
    tenant: TenantId,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.tenants.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                open.tenants.remove(&self.tenant);
            }
        }
        metrics::gauge!(SUBSCRIBERS).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn tenant_and_node_limits_answer_429_and_503_and_permits_give_places_back() {
        let limits = StreamLimits::new(3, 2);
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let a1 = limits.acquire(&a).unwrap();
        let _a2 = limits.acquire(&a).unwrap();
        let Err(e) = limits.acquire(&a) else { panic!("a third stream of a") };
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        let _b1 = limits.acquire(&b).unwrap();
        let Err(e) = limits.acquire(&b) else { panic!("a fourth stream on the node") };
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(limits.open(&a), (3, 2));
        drop(a1);
        assert_eq!(limits.open(&a), (2, 1));
        assert!(limits.acquire(&a).is_ok());
    }
}
