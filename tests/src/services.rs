//! The broker and the database the tests talk to.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Admin URL of the PostgreSQL server (tests create their own databases on it).
pub fn postgres_admin_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/traffic".into());
    // Point at the maintenance database of the same server.
    match url.rfind('/') {
        Some(i) if url[..i].contains("://") && url[..i].rfind('/').is_some_and(|j| j + 1 < i) => {
            format!("{}/postgres", &url[..i])
        }
        _ => url,
    }
}

pub fn port_open(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The broker for this test: the environment's, or one started here and stopped on drop.
pub struct Broker {
    pub brokers: String,
    own: Option<Child>,
}

impl Broker {
    pub fn get() -> Broker {
        let configured = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
        if configured.split(',').any(port_open) {
            return Broker {
                brokers: configured,
                own: None,
            };
        }
        let bin = tansu_binary().unwrap_or_else(|| {
            panic!(
                "no Kafka-protocol broker at {configured} and no tansu binary found; \
                 run `bash scripts/broker.sh start` (or `bash scripts/test.sh`, which does it)"
            )
        });
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let brokers = format!("127.0.0.1:{port}");
        crate::wait_for("the test broker's port", Duration::from_secs(20), || {
            port_open(&brokers).then_some(())
        });
        Broker {
            brokers,
            own: Some(child),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = self.own.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tansu_binary() -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("TANSU_BIN") {
        return Some(PathBuf::from(bin));
    }
    let tools = std::env::var("B2_TOOLS_DIR")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/b2-tools")))
        .ok()?;
    let bin = tools.join("tansu-0.6.0/bin/tansu");
    bin.exists().then_some(bin)
}

/// Resolves `host:port` for clients that need a socket address.
pub fn socket(addr: &str) -> SocketAddr {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("{addr} does not resolve"))
}
