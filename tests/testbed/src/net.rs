//! Addresses for child services: free loopback ports to give them, whether something listens
//! yet, and PostgreSQL URLs pointed at a run's own database.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A loopback port nobody listens on right now (bound, then released for a child to take).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `127.0.0.1:port` on a free port.
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?)))
}

/// Whether `host:port` accepts a TCP connection within 300 ms.
pub fn port_open(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// `url` pointing at database `db` instead, in URL form (`postgres://host/db?options`) or
/// key=value form.
pub fn with_database(url: &str, db: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (location, query) = match rest.split_once('?') {
                Some((location, query)) => (location, Some(query)),
                None => (rest, None),
            };
            let authority = location.split('/').next().unwrap_or_default();
            match query {
                Some(query) => format!("{scheme}://{authority}/{db}?{query}"),
                None => format!("{scheme}://{authority}/{db}"),
            }
        }
        None => format!("{url} dbname={db}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_urls_at_another_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432/traffic?sslmode=disable", "b"),
            "postgres://u:p@h:5432/b?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h/", "b"), "postgresql://h/b");
        assert_eq!(
            with_database("host=h user=u dbname=x", "b"),
            "host=h user=u dbname=x dbname=b"
        );
    }

    #[test]
    fn a_free_port_is_free_until_taken() {
        let port = free_port().expect("a port");
        assert!(!port_open(&format!("127.0.0.1:{port}")));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        assert!(port_open(&format!("127.0.0.1:{port}")));
        drop(listener);
    }
}
