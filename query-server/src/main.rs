//! `query-server`: configuration from the environment (see `.env.example`), then [`query_server::run`]
//! until SIGTERM or Ctrl-C.

use anyhow::Context;
use bootstrap::cli::{self, Info};

const USAGE: &str = "usage: query-server [--help | --version]
Serves the REST API and the WebSocket channels of the traffic back end.
Configuration is read from the environment only.";

/// Many small allocations per request: mimalloc serves them faster than glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    if let Some(arg) = std::env::args().nth(1) {
        match Info::of(&arg) {
            Some(Info::Help) => print!(
                "{}",
                cli::help(USAGE, |env| query_server::Config::from_lookup(env))
            ),
            Some(Info::Version) => println!("query-server {}", env!("CARGO_PKG_VERSION")),
            None => {
                eprintln!("query-server: unknown argument '{arg}'\n{USAGE}");
                std::process::exit(2);
            }
        }
        return Ok(());
    }
    bootstrap::logging::init(bootstrap::Layout::Service, log::LevelFilter::Info);
    let config = query_server::Config::from_lookup(bootstrap::settings::from_process)
        .context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        log::error!("cannot watch SIGTERM: {e}");
                        return;
                    }
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            log::info!("shutdown_requested");
            let _ = stop.send(true);
        });
        query_server::run(config, shutdown)
            .await
            .context("query server failed")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_example_lists_every_setting() {
        let unlisted = bootstrap::settings::unlisted_in_env_example(|env| {
            query_server::Config::from_lookup(env)
        })
        .expect("the defaults are valid");
        assert!(
            unlisted.is_empty(),
            "missing from .env.example: {unlisted:?}"
        );
    }
}
