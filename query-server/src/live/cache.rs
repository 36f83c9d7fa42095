//! The rendered answers of the hot REST routes, shared by every request for the same key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;

/// A complete response worth keeping.
#[derive(Debug, Clone)]
pub(crate) struct CachedResponse {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

struct Entry {
    version: u64,
    at: Instant,
    response: CachedResponse,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

pub(crate) struct HotCache {
    version: AtomicU64,
    max_age: Duration,
    max_keys: usize,
    slots: Mutex<HashMap<String, Slot>>,
}

impl HotCache {
    pub(crate) fn new(max_age: Duration) -> Self {
        Self {
            version: AtomicU64::new(1),
            max_age,
            max_keys: 10_000,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The data changed (a notification arrived, or the listener reconnected).
    pub(crate) fn invalidate(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = match self.slots.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slots.len() >= self.max_keys && !slots.contains_key(key) {
            // Keys carry query strings; a client cycling through them must not grow memory.
            slots.clear();
        }
        slots.entry(key.to_owned()).or_default().clone()
    }

    /// The cached response for `key` if still current, else `build`'s, which is kept when it
    /// succeeds (errors are never cached).
    pub(crate) async fn get_or_build<E, F, Fut>(
        &self,
        key: &str,
        build: F,
    ) -> Result<CachedResponse, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedResponse, E>>,
    {
        let slot = self.slot(key);
        let mut guard = slot.lock().await;
        let version = self.version();
        if let Some(entry) = guard.as_ref() {
            if entry.version == version && entry.at.elapsed() < self.max_age {
                return Ok(entry.response.clone());
            }
        }
        let built = build().await;
        *guard = built.as_ref().ok().map(|response| Entry {
            version,
            at: Instant::now(),
            response: response.clone(),
        });
        built
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &'static str) -> Result<CachedResponse, ()> {
        Ok(CachedResponse {
            status: StatusCode::OK,
            content_type: "application/json".into(),
            body: Bytes::from_static(text.as_bytes()),
        })
    }

    #[tokio::test]
    async fn reuses_until_invalidated_or_old() {
        let cache = HotCache::new(Duration::from_secs(60));
        let first = cache.get_or_build("k", || async { response("1") }).await;
        let again = cache.get_or_build("k", || async { response("2") }).await;
        assert_eq!(
            first.map(|r| r.body),
            again.map(|r| r.body),
            "served from memory"
        );
        cache.invalidate();
        let fresh = cache.get_or_build("k", || async { response("3") }).await;
        assert_eq!(fresh.map(|r| r.body), Ok(Bytes::from_static(b"3")));

        let short = HotCache::new(Duration::ZERO);
        let _ = short.get_or_build("k", || async { response("a") }).await;
        let rebuilt = short.get_or_build("k", || async { response("b") }).await;
        assert_eq!(rebuilt.map(|r| r.body), Ok(Bytes::from_static(b"b")));
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let cache = HotCache::new(Duration::from_secs(60));
        assert!(cache
            .get_or_build("k", || async { Err::<CachedResponse, ()>(()) })
            .await
            .is_err());
        let built = cache.get_or_build("k", || async { response("ok") }).await;
        assert_eq!(built.map(|r| r.body), Ok(Bytes::from_static(b"ok")));
    }
}
