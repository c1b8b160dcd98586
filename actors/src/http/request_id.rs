//! `x-request-id`: a client's id kept when it is short and plain, one
//! generated otherwise; set on the request (handlers and the trace span see
//! it) and echoed on the response. Done by the outermost service (`Track`)
//! in one pass: tower-http's pair of layers cost ~6,500 instructions per
//! request (two header lookups, an extension, a UUID from the OS).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::http::header::Entry;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The header.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent request id kept; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// Request ids unique within the process and across restarts: a random
/// 64-bit prefix drawn once per process, then a counter
/// (`3f9a0c2e5b7d1184-000000000000002a`).
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        // RandomState is seeded from the OS once per process: enough to
        // tell processes apart.
        let prefix =
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), std::process::id());
        Self {
            prefix,
            next: Arc::default(),
        }
    }

    /// Keeps a sane client id in `headers` or puts a new one there; returns
    /// the id to echo.
    pub(crate) fn assign(&self, headers: &mut HeaderMap) -> HeaderValue {
        // One lookup whatever the outcome (the name is hashed once).
        match headers.entry(&X_REQUEST_ID) {
            Entry::Occupied(entry) if sane(entry.get()) => entry.get().clone(),
            Entry::Occupied(mut entry) => {
                let id = self.generate();
                entry.insert(id.clone());
                id
            }
            Entry::Vacant(entry) => entry.insert(self.generate()).clone(),
        }
    }

    fn generate(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut text = [0_u8; 33];
        write_hex(&mut text[..16], self.prefix);
        text[16] = b'-';
        write_hex(&mut text[17..], n);
        // One allocation, shared by the request's copy and the response's
        // (a copied slice would be a second one when cloned).
        HeaderValue::from_maybe_shared(Bytes::from_owner(Generated(text)))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// A generated id's text.
struct Generated([u8; 33]);

impl AsRef<[u8]> for Generated {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Puts `id` on a response that has none of its own.
pub(crate) fn echo(headers: &mut HeaderMap, id: HeaderValue) {
    if let Entry::Vacant(entry) = headers.entry(&X_REQUEST_ID) {
        entry.insert(id);
    }
}

/// Whether a client-sent id may be echoed and logged: short and plain
/// (letters, digits, `-`, `_`, `.`, `:`), so a client cannot inject text
/// into logs or responses.
fn sane(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `value` as lowercase hex, zero-padded to 16 digits.
fn write_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().take(16).enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_plain_distinct_and_fixed_length() {
        let ids = RequestIds::new();
        let (first, second) = (ids.assign(&mut HeaderMap::new()), ids.assign(&mut HeaderMap::new()));
        assert_ne!(first, second);
        assert!(sane(&first) && sane(&second));
        assert_eq!(first.len(), 33);
        assert!(
            first.to_str().expect("ascii").ends_with("-0000000000000000"),
            "{first:?}"
        );
    }

    #[test]
    fn a_sane_client_id_is_kept_and_an_insane_one_replaced_on_the_request() {
        let ids = RequestIds::new();
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("abc-123"));
        assert_eq!(ids.assign(&mut headers), "abc-123");
        assert_eq!(headers[&X_REQUEST_ID], "abc-123");
        headers.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("has space"));
        let replaced = ids.assign(&mut headers);
        assert_ne!(replaced, "has space");
        assert_eq!(headers[&X_REQUEST_ID], replaced);
    }

    #[test]
    fn a_response_keeps_its_own_id_and_gets_ours_otherwise() {
        let mut headers = HeaderMap::new();
        echo(&mut headers, HeaderValue::from_static("ours"));
        assert_eq!(headers[&X_REQUEST_ID], "ours");
        echo(&mut headers, HeaderValue::from_static("another"));
        assert_eq!(headers[&X_REQUEST_ID], "ours");
    }
}
