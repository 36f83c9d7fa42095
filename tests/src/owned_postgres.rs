//! A PostgreSQL server of the test's own (initdb in a temporary folder, its own port), so a test
//! can crash and restart a database server without touching the one the other tests share.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::certs::TestCertificates;

pub struct OwnedPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Server settings beyond the defaults (`-c name=value ...`).
    settings: String,
}

/// The files of a server that speaks TLS: the CA that signed its certificate, and a CA that did
/// not (for the refusal).
pub struct TlsFiles {
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
}

/// The newest installed server's binaries (Debian layout), or the folder of `pg_ctl` on PATH.
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL server binaries under /usr/lib/postgresql; run `bash scripts/postgres.sh ensure`")
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a server binary, as user `postgres` when we are root (the server refuses to run as root).
fn run(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let path = bin.join(program);
    let output = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&path)
            .args(args)
            .output()
    } else {
        Command::new(&path).args(args).output()
    };
    output.unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
}

impl OwnedPostgres {
    pub fn start() -> OwnedPostgres {
        let server = OwnedPostgres::init();
        server.start_server();
        server
    }

    /// A server with `ssl=on` and a certificate for `localhost` and 127.0.0.1, signed by a CA of
    /// the test's own.
    pub fn start_with_tls() -> (OwnedPostgres, TlsFiles) {
        let mut server = OwnedPostgres::init();
        let files = server.make_certificates();
        server.start_server();
        (server, files)
    }

    fn make_certificates(&mut self) -> TlsFiles {
        let certs = TestCertificates::create(&self.dir);
        let (cert, key) = (
            certs.server_cert.to_string_lossy().into_owned(),
            certs.server_key.to_string_lossy().into_owned(),
        );
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", &key, &cert])
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot hand the server key to user postgres"
            );
        }
        let status = Command::new("chmod")
            .args(["600", &key])
            .status()
            .expect("chmod");
        assert!(status.success(), "cannot restrict the server key");
        self.settings = format!("-c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}");
        TlsFiles {
            ca: certs.ca,
            wrong_ca: certs.wrong_ca,
        }
    }

    fn init() -> OwnedPostgres {
        let bin = server_bin();
        let dir = std::env::temp_dir().join(crate::unique_name("b2_pg"));
        std::fs::create_dir_all(&dir).expect("server folder");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot hand {} to user postgres",
                dir.display()
            );
        }
        let data = dir.join("data");
        let out = run(
            &bin,
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        OwnedPostgres {
            port: testbed::net::free_port().expect("a free loopback port"),
            dir,
            bin,
            settings: String::new(),
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/NAME`
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let data = self.dir.join("data");
        let mut all = vec!["-D", data.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        run(&self.bin, "pg_ctl", &all)
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off {}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let log = self.dir.join("server.log");
        let out = self.pg_ctl(&[
            "-o",
            &options,
            "-l",
            log.to_str().unwrap_or_default(),
            "-w",
            "-t",
            "60",
            "start",
        ]);
        assert!(
            out.status.success(),
            "the test's PostgreSQL did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server the way a crash would (no checkpoint, connections cut), waits `down`, and
    /// starts it again: it recovers from its write-ahead log.
    pub fn crash_and_restart(&self, down: Duration) {
        let out = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
        assert!(
            out.status.success(),
            "immediate stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(down);
        self.start_server();
    }

    pub fn create_database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test's PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        self.url(name)
    }
}

impl Drop for OwnedPostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
