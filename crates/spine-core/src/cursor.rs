//! Opaque keyset cursors. A cursor carries the order and the last row's `(occurred_at, seq)`,
//! bound to one tenant and signed with the server secret: a forged, truncated or foreign cursor
//! fails to decode (a 400 problem at the edge), and never selects another tenant's rows.

use crate::filter::Order;
use crate::ids::{Seq, TenantId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + 1 + 8 + 8;

/// The position after which the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The order the cursor was made for; a cursor is refused in the other order.
    pub order: Order,
    /// `occurred_at` of the last row served, in microseconds.
    pub occurred_micros: i64,
    /// `seq` of the last row served.
    pub seq: Seq,
}

/// Why a cursor was refused. Deliberately vague: the client only needs to know it is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not produced by this server for this tenant, or damaged.
    #[error("the cursor is malformed or was not issued for this feed")]
    Invalid,
    /// Issued for the other order.
    #[error("the cursor was issued for a different order")]
    WrongOrder,
}

fn mac(secret: &[u8], tenant: &TenantId, body: &[u8]) -> [u8; MAC_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0]).expect("fixed key"));
    m.update(b"spine-cursor\0");
    m.update(tenant.as_str().as_bytes());
    m.update(&[0]);
    m.update(body);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

impl Cursor {
    /// Encodes and signs for `tenant`.
    pub fn encode(&self, secret: &[u8], tenant: &TenantId) -> String {
        let mut buf = Vec::with_capacity(BODY_LEN + MAC_LEN);
        buf.push(VERSION);
        buf.push(match self.order {
            Order::Occurred => 0,
            Order::Seq => 1,
        });
        buf.extend_from_slice(&self.occurred_micros.to_be_bytes());
        buf.extend_from_slice(&self.seq.0.to_be_bytes());
        let tag = mac(secret, tenant, &buf);
        buf.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// Decodes and verifies a cursor for `tenant` and `order`.
    pub fn decode(
        s: &str,
        secret: &[u8],
        tenant: &TenantId,
        order: Order,
    ) -> Result<Self, CursorError> {
        if s.len() > 64 {
            return Err(CursorError::Invalid);
        }
        let buf = URL_SAFE_NO_PAD.decode(s).map_err(|_| CursorError::Invalid)?;
        if buf.len() != BODY_LEN + MAC_LEN || buf[0] != VERSION {
            return Err(CursorError::Invalid);
        }
        let (body, tag) = buf.split_at(BODY_LEN);
        let expected = mac(secret, tenant, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
            return Err(CursorError::Invalid);
        }
        let cursor_order = match body[1] {
            0 => Order::Occurred,
            1 => Order::Seq,
            _ => return Err(CursorError::Invalid),
        };
        if cursor_order != order {
            return Err(CursorError::WrongOrder);
        }
        let int = |b: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            i64::from_be_bytes(a)
        };
        Ok(Cursor { order, occurred_micros: int(&body[2..10]), seq: Seq(int(&body[10..18])) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn foreign_tenant_and_wrong_order_are_refused() {
        let c = Cursor { order: Order::Seq, occurred_micros: 1, seq: Seq(2) };
        let s = c.encode(b"k", &tenant("a"));
        assert_eq!(Cursor::decode(&s, b"k", &tenant("a"), Order::Seq), Ok(c));
        assert_eq!(Cursor::decode(&s, b"k", &tenant("b"), Order::Seq), Err(CursorError::Invalid));
        assert_eq!(
            Cursor::decode(&s, b"other", &tenant("a"), Order::Seq),
            Err(CursorError::Invalid)
        );
        assert_eq!(
            Cursor::decode(&s, b"k", &tenant("a"), Order::Occurred),
            Err(CursorError::WrongOrder)
        );
    }

    proptest! {
        #[test]
        fn round_trips(occ in any::<i64>(), seq in any::<i64>(), by_seq in any::<bool>()) {
            let order = if by_seq { Order::Seq } else { Order::Occurred };
            let c = Cursor { order, occurred_micros: occ, seq: Seq(seq) };
            prop_assert_eq!(Cursor::decode(&c.encode(b"secret", &tenant("t")), b"secret", &tenant("t"), order), Ok(c));
        }

        #[test]
        fn arbitrary_text_never_decodes_or_panics(s in ".{0,80}") {
            prop_assert!(Cursor::decode(&s, b"secret", &tenant("t"), Order::Seq).is_err());
        }

        #[test]
        fn any_bit_flip_is_detected(bit in 0usize..(34 * 8)) {
            let c = Cursor { order: Order::Seq, occurred_micros: 7, seq: Seq(9) };
            let mut raw = URL_SAFE_NO_PAD.decode(c.encode(b"k", &tenant("t"))).unwrap();
            raw[bit / 8] ^= 1 << (bit % 8);
            let forged = URL_SAFE_NO_PAD.encode(raw);
            prop_assert!(Cursor::decode(&forged, b"k", &tenant("t"), Order::Seq).is_err());
        }
    }
}
