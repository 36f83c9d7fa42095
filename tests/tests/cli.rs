//! The service binaries behave like their peers on the command line: `--help` documents the
//! usage and every environment setting, `--version` names the version, and an argument they do
//! not know is refused with exit status 2 before anything starts.

use std::process::{Command, Output};

use e2e_tests::workspace_binary;

fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(workspace_binary(binary))
        .args(args)
        // No service could be reached: a binary that started anyway would fail differently.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap_or_else(|e| panic!("run {binary}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_usage_and_the_environment_with_defaults() {
    for (binary, settings) in [
        (
            "query-server",
            ["QUERY_SERVER_ADDR=127.0.0.1:18001", "ADMIN_API_KEY="],
        ),
        (
            "pipeline",
            ["KAFKA_TOPIC=traffic-events", "WINDOW_SIZE_SECONDS=5"],
        ),
    ] {
        let out = run(binary, &["--help"]);
        assert!(out.status.success(), "{binary} --help: {out:?}");
        let help = text(&out.stdout);
        assert!(help.starts_with(&format!("usage: {binary}")), "{help}");
        for setting in settings {
            assert!(
                help.contains(&format!("  {setting}\n")),
                "{binary}: {setting} in\n{help}"
            );
        }
        assert!(!help.contains("not in .env.example"), "{help}");
    }
}

#[test]
fn version_names_the_binary_and_its_version() {
    for binary in ["query-server", "pipeline"] {
        let out = run(binary, &["--version"]);
        assert!(out.status.success(), "{binary} --version: {out:?}");
        assert_eq!(
            text(&out.stdout).trim(),
            format!("{binary} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn an_unknown_argument_or_subcommand_is_refused_before_starting() {
    for (binary, arg, says) in [
        ("query-server", "--port=1", "unknown argument '--port=1'"),
        ("query-server", "serve", "unknown argument 'serve'"),
        ("pipeline", "migrat", "unknown subcommand 'migrat'"),
        ("pipeline", "start", "unknown subcommand 'start'"),
    ] {
        let out = run(binary, &[arg]);
        assert_eq!(out.status.code(), Some(2), "{binary} {arg}: {out:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{binary} {arg}: {stderr}");
        assert!(stderr.contains(&format!("usage: {binary}")), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{binary} {arg} printed {:?}",
            text(&out.stdout)
        );
    }
}
