//! `pipeline [run] [-w N] [-n P -p I -h hostfile]`, `pipeline migrate`, `pipeline sweep`.
//! Configuration comes from the environment (see `.env.example`); timely's flags pass through.

/// Many small short-lived allocations per event: mimalloc handles them markedly faster than glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use bootstrap::cli::{self, Info};

const USAGE: &str = "usage: pipeline [run] [-w WORKERS] [-n PROCESSES -p INDEX [-h HOSTFILE]]
       pipeline migrate     apply database migrations and exit
       pipeline sweep       run one retention sweep and print events_deleted=N metrics_deleted=M
       pipeline --help | --version
run (the default) reads B1 detections from Kafka and writes windows, congestion and alerts to
PostgreSQL until SIGTERM; -w, -n, -p and -h are timely's (threads, processes, this process's index,
the hosts file). Configuration is read from the environment only.";

fn main() -> anyhow::Result<()> {
    bootstrap::logging::init(bootstrap::Layout::Service, log::LevelFilter::Info);
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("run" | "migrate" | "sweep") => args.remove(0),
        Some(arg) if Info::of(arg) == Some(Info::Help) => {
            print!(
                "{}",
                cli::help(USAGE, |env| pipeline::Config::from_lookup(env))
            );
            return Ok(());
        }
        Some(arg) if Info::of(arg) == Some(Info::Version) => {
            println!("pipeline {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        // timely's own flags; anything else is a subcommand this binary does not have.
        None => "run".to_owned(),
        Some(arg) if arg.starts_with('-') => "run".to_owned(),
        Some(other) => {
            eprintln!("pipeline: unknown subcommand '{other}'\n{USAGE}");
            std::process::exit(2);
        }
    };
    let config = pipeline::Config::from_lookup(bootstrap::settings::from_process)
        .context("invalid configuration")?;
    match command.as_str() {
        "migrate" => {
            let applied = pipeline::migrate(&config).context("migration failed")?;
            println!("migrations_applied={applied:?}");
        }
        "sweep" => {
            let report = pipeline::sweep_once(&config).context("retention sweep failed")?;
            println!("{report}");
        }
        _ => {
            let shutdown = pipeline::Shutdown::new();
            shutdown
                .install_signal_handlers()
                .context("cannot install signal handlers")?;
            let mut timely_args = vec!["pipeline".to_owned()];
            timely_args.extend(args);
            pipeline::run(config, shutdown, timely_args).context("pipeline failed")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_example_lists_every_setting() {
        let unlisted =
            bootstrap::settings::unlisted_in_env_example(|env| pipeline::Config::from_lookup(env))
                .expect("the defaults are valid");
        assert!(
            unlisted.is_empty(),
            "missing from .env.example: {unlisted:?}"
        );
    }
}
