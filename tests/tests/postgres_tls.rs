//! PostgreSQL over TLS as `DATABASE_URL` asks for it: a server of the test's own with `ssl=on`
//! and a certificate from a CA of the test's own. `sslmode=verify-full` with that CA connects
//! encrypted (the library, `pipeline migrate` and the query server); the same URL with another
//! CA is refused with the reason, and `sslmode=disable` stays plaintext.

use std::path::Path;
use std::process::Command;

use bootstrap::database::Database;
use e2e_tests::api::QueryServer;
use e2e_tests::owned_postgres::OwnedPostgres;
use e2e_tests::workspace_binary;

fn with_tls(url: &str, mode: &str, ca: &Path) -> String {
    format!("{url}?sslmode={mode}&sslrootcert={}", ca.display())
}

fn encrypted(url: &str) -> bool {
    let mut client = Database::parse(url)
        .expect("a valid URL")
        .connect()
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

#[test]
fn verify_full_connects_encrypted_and_a_wrong_ca_is_refused_with_the_reason() {
    let (server, tls) = OwnedPostgres::start_with_tls();
    let url = server.create_database("b2_tls");

    for mode in ["verify-full", "verify-ca", "require"] {
        assert!(encrypted(&with_tls(&url, mode, &tls.ca)), "{mode}");
    }
    assert!(
        encrypted(&format!("{url}?sslmode=require")),
        "require without a CA"
    );
    assert!(
        encrypted(&url),
        "prefer (the default) takes TLS when offered"
    );
    assert!(!encrypted(&format!("{url}?sslmode=disable")));

    let wrong = Database::parse(&with_tls(&url, "verify-full", &tls.wrong_ca))
        .expect("a valid URL")
        .connect()
        .err()
        .map(|e| format!("{e} {:?}", std::error::Error::source(&e)))
        .expect("another CA's certificate must be refused");
    assert!(wrong.contains("certificate verify failed"), "{wrong}");

    // The binaries: `pipeline migrate` and the query server over verify-full.
    let verified = with_tls(&url, "verify-full", &tls.ca);
    e2e_tests::run_ok(
        Command::new(workspace_binary("pipeline"))
            .arg("migrate")
            .env("DATABASE_URL", &verified),
        "pipeline migrate over TLS",
    );
    let mut query_server = QueryServer::start(&verified, None, &[]);
    let health = query_server.ok("/health");
    assert_eq!(health["postgres"], "ok", "{health}");
    let (sessions, plaintext): (i64, i64) = {
        let mut client = Database::parse(&verified)
            .expect("valid")
            .connect()
            .expect("connect");
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE NOT s.ssl)
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
                &[],
            )
            .expect("sessions");
        (row.get(0), row.get(1))
    };
    assert!(sessions >= 1, "the query server holds its LISTEN session");
    assert_eq!(plaintext, 0, "every query-server session is encrypted");
    query_server.terminate();

    let refused = Command::new(workspace_binary("pipeline"))
        .arg("migrate")
        .env("DATABASE_URL", with_tls(&url, "verify-full", &tls.wrong_ca))
        .output()
        .expect("run pipeline migrate");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a wrong CA must fail: {stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    assert!(
        stderr.contains("sslmode=verify-full"),
        "the URL is named: {stderr}"
    );
}

#[test]
fn a_verify_mode_without_a_ca_or_with_a_missing_file_stops_at_start() {
    for (url, says) in [
        (
            "postgres://postgres@127.0.0.1:1/x?sslmode=verify-full",
            "give sslrootcert",
        ),
        (
            "postgres://postgres@127.0.0.1:1/x?sslmode=verify-ca&sslrootcert=/no/such/ca.pem",
            "sslrootcert /no/such/ca.pem",
        ),
        (
            "postgres://postgres@127.0.0.1:1/x?sslmode=strict",
            "sslmode=strict",
        ),
    ] {
        for binary in ["pipeline", "query-server"] {
            let out = Command::new(workspace_binary(binary))
                .env("DATABASE_URL", url)
                .env("QUERY_SERVER_ADDR", "127.0.0.1:0")
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{binary} started with {url}");
            assert!(stderr.contains(says), "{binary} {url}: {stderr}");
        }
    }
}
