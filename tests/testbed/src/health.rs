//! Waiting for a started service to be ready. A process that is running is not yet serving: it
//! may still be connecting to PostgreSQL or binding its port, so callers wait for its health URL
//! to answer 200. A process that exits meanwhile ends the wait at once, with its log.

use std::time::{Duration, Instant};

use crate::{http, Error, Running};

const POLL: Duration = Duration::from_millis(100);

/// Polls `url` until it answers 200, for at most `timeout`.
pub fn wait_healthy(service: &mut Running, url: &str, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = service.try_wait()? {
            return Err(Error::ExitedEarly {
                name: service.name().to_owned(),
                status,
                url: url.to_owned(),
                log: service.log(),
            });
        }
        if http::get(url).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotHealthy {
                name: service.name().to_owned(),
                url: url.to_owned(),
                timeout,
                log: service.log(),
            });
        }
        std::thread::sleep(POLL);
    }
}
