use std::sync::Arc;
use std::time::Duration;

use fallible_iterator::FallibleIterator;

use super::HotCache;

/// Channels whose notifications mean "what the hot routes show may have changed".
const CHANNELS: &[&str] = &["b2_metrics", "b2_alerts", "b2_cameras", "b2_thresholds"];

/// Runs the LISTEN connection on its own thread until `stop` is set: every notification, and
/// every (re)connection (changes may have been missed meanwhile), invalidates the cache.
pub fn spawn(
    database_url: String,
    cache: Arc<HotCache>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("listen".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(200);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match listen(&database_url, &cache, &stop) {
                    Ok(()) => return,
                    Err(e) => {
                        log::warn!(
                            "listen_disconnected retry_in_ms={} error={e}",
                            backoff.as_millis()
                        );
                        cache.invalidate();
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
}

fn listen(
    database_url: &str,
    cache: &HotCache,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(), postgres::Error> {
    let mut client = postgres::Client::connect(database_url, postgres::NoTls)?;
    let statement: String = CHANNELS.iter().map(|c| format!("LISTEN {c};")).collect();
    client.batch_execute(&statement)?;
    cache.invalidate();
    log::info!("listen_connected channels={}", CHANNELS.join(","));
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut notifications = client.notifications();
        let mut iter = notifications.timeout_iter(Duration::from_millis(500));
        while let Some(_notification) = iter.next()? {
            cache.invalidate();
        }
    }
    Ok(())
}
