//! PostgreSQL as `DATABASE_URL` asks for it, TLS included. The URL takes libpq's TLS parameters:
//! `sslmode` (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`),
//! `sslrootcert` (the CA file; `system` for the system's trust store), and `sslcert`/`sslkey`
//! (a client certificate). rust-postgres itself knows only `disable`, `prefer` and `require`, so
//! this module reads the TLS parameters, builds the OpenSSL connector they describe and hands
//! the rest of the URL to rust-postgres. As with libpq, `require` encrypts without checking the
//! certificate, unless a CA file is given, when it checks like `verify-ca`.

use std::fmt;
use std::str::FromStr;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres::config::SslMode;
pub use postgres_openssl::MakeTlsConnector;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("DATABASE_URL: {0}")]
    Invalid(#[from] postgres::Error),
    #[error("DATABASE_URL: sslmode={0} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error("DATABASE_URL: sslmode={0} checks the server's certificate: give sslrootcert (a CA file, or `system`)")]
    NoRootCert(String),
    #[error("DATABASE_URL: {what} {path}: {source}")]
    File {
        what: &'static str,
        path: String,
        #[source]
        source: openssl::error::ErrorStack,
    },
    #[error("DATABASE_URL: cannot set up TLS: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    Chain,
    ChainAndHost,
}

/// A database to connect to: the connection settings and the TLS they ask for.
#[derive(Clone)]
pub struct Database {
    config: postgres::Config,
    tls: MakeTlsConnector,
    shown: String,
}

impl Database {
    pub fn parse(url: &str) -> Result<Database, DatabaseUrlError> {
        let (rest, tls) = split_tls_params(url);
        let mode = tls.get("sslmode").map(String::as_str).unwrap_or("prefer");
        let (ssl_mode, verify) = match mode {
            "disable" => (SslMode::Disable, Verify::Nothing),
            "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
            "require" if tls.contains_key("sslrootcert") => (SslMode::Require, Verify::Chain),
            "require" => (SslMode::Require, Verify::Nothing),
            "verify-ca" => (SslMode::Require, Verify::Chain),
            "verify-full" => (SslMode::Require, Verify::ChainAndHost),
            other => return Err(DatabaseUrlError::SslMode(other.to_owned())),
        };
        let mut config = postgres::Config::from_str(&rest)?;
        config.ssl_mode(ssl_mode);
        let mut builder = SslConnector::builder(SslMethod::tls())?;
        match (verify, tls.get("sslrootcert").map(String::as_str)) {
            (Verify::Nothing, _) => builder.set_verify(SslVerifyMode::NONE),
            (_, None) => return Err(DatabaseUrlError::NoRootCert(mode.to_owned())),
            (_, Some("system")) => builder.set_default_verify_paths()?,
            (_, Some(path)) => {
                builder
                    .set_ca_file(path)
                    .map_err(|source| DatabaseUrlError::File {
                        what: "sslrootcert",
                        path: path.to_owned(),
                        source,
                    })?
            }
        }
        if let Some(path) = tls.get("sslcert") {
            builder
                .set_certificate_chain_file(path)
                .map_err(|source| DatabaseUrlError::File {
                    what: "sslcert",
                    path: path.clone(),
                    source,
                })?;
        }
        if let Some(path) = tls.get("sslkey") {
            builder
                .set_private_key_file(path, SslFiletype::PEM)
                .map_err(|source| DatabaseUrlError::File {
                    what: "sslkey",
                    path: path.clone(),
                    source,
                })?;
        }
        let mut tls_connector = MakeTlsConnector::new(builder.build());
        if verify != Verify::ChainAndHost {
            tls_connector.set_callback(|connect, _| {
                connect.set_verify_hostname(false);
                Ok(())
            });
        }
        Ok(Database {
            config,
            tls: tls_connector,
            shown: redact_url(url),
        })
    }

    /// A new blocking connection.
    pub fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        self.config.connect(self.tls.clone())
    }

    /// The connection settings, for a caller that adjusts them (a pool, an application name).
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    pub fn tls(&self) -> MakeTlsConnector {
        self.tls.clone()
    }
}

/// Whether `error` is a refused TLS handshake (an unknown CA, a wrong host name, a server
/// without TLS under `require`): trying again cannot help, unlike an unreachable server.
pub fn is_tls_refusal(error: &postgres::Error) -> bool {
    error
        .to_string()
        .starts_with("error performing TLS handshake")
}

/// The URL with its password hidden.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

const TLS_PARAMS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// The URL without its TLS parameters, and those parameters. Both forms libpq takes work: a
/// `postgres://` URL (parameters after `?`, percent-encoded) and `key=value` words.
fn split_tls_params(url: &str) -> (String, std::collections::BTreeMap<&'static str, String>) {
    let mut tls = std::collections::BTreeMap::new();
    let mut take = |key: &str, value: String| match TLS_PARAMS.iter().find(|k| **k == key) {
        Some(known) => {
            tls.insert(*known, value);
            true
        }
        None => false,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), tls);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, percent_decode(value))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, tls)
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|word| {
                let (key, value) = word.split_once('=').unwrap_or((word, ""));
                !take(key, value.trim_matches('\'').to_owned())
            })
            .collect();
        (kept.join(" "), tls)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_both_url_forms() {
        let (rest, tls) = split_tls_params(
            "postgres://u@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u@h:5432/db?application_name=x");
        assert_eq!(tls["sslmode"], "verify-full");
        assert_eq!(tls["sslrootcert"], "/tmp/ca.pem");
        let (rest, tls) =
            split_tls_params("host=h dbname=db sslmode=require sslrootcert='/ca.pem'");
        assert_eq!(rest, "host=h dbname=db");
        assert_eq!(tls["sslmode"], "require");
        assert_eq!(tls["sslrootcert"], "/ca.pem");
        let (rest, tls) = split_tls_params("postgres://u@h/db?sslmode=disable");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls["sslmode"], "disable");
    }

    #[test]
    fn modes_map_to_libpq_behaviour() {
        for url in [
            "postgres://u@h/db",
            "postgres://u@h/db?sslmode=disable",
            "postgres://u@h/db?sslmode=allow",
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=require",
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=system",
            "host=h user=u sslmode=verify-ca sslrootcert=system",
        ] {
            assert!(Database::parse(url).is_ok(), "{url}");
        }
        let modes = |url: &str| Database::parse(url).map(|d| d.config().get_ssl_mode());
        assert_eq!(modes("postgres://u@h/db").ok(), Some(SslMode::Prefer));
        assert_eq!(
            modes("postgres://u@h/db?sslmode=disable").ok(),
            Some(SslMode::Disable)
        );
        assert_eq!(
            modes("postgres://u@h/db?sslmode=verify-full&sslrootcert=system").ok(),
            Some(SslMode::Require)
        );
    }

    #[test]
    fn refusals_name_the_parameter() {
        let refused = |url: &str| {
            Database::parse(url)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(
            refused("postgres://u@h/db?sslmode=strict").contains("sslmode=strict is not one of")
        );
        assert!(refused("postgres://u@h/db?sslmode=verify-full").contains("give sslrootcert"));
        assert!(
            refused("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/no/such/ca.pem")
                .contains("sslrootcert /no/such/ca.pem")
        );
        assert!(refused("postgres://u@h/db?port=notanumber").starts_with("DATABASE_URL: "));
    }

    #[test]
    fn the_password_never_shows() {
        let db = Database::parse("postgres://u:secret@h/db").expect("valid");
        assert_eq!(format!("{db:?}"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
