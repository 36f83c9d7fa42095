//! A TLS-terminating TCP proxy: clients speak TLS to it (with the test's server certificate),
//! it speaks plaintext to the upstream. In front of a broker that advertises the proxy's
//! address, a Kafka client can only reach the broker over TLS.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

pub struct TlsProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl TlsProxy {
    /// Listens on 127.0.0.1:`port` and forwards every TLS connection to `upstream`.
    pub fn start(port: u16, cert: &Path, key: &Path, upstream: String) -> TlsProxy {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acceptor
            .set_certificate_chain_file(cert)
            .expect("server certificate");
        acceptor
            .set_private_key_file(key, SslFiletype::PEM)
            .expect("server key");
        let acceptor = Arc::new(acceptor.build());
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the TLS proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (acceptor, upstream, stopped) =
                            (acceptor.clone(), upstream.clone(), stopped.clone());
                        std::thread::spawn(move || relay(&acceptor, client, &upstream, &stopped));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => return,
                }
            }
        });
        TlsProxy { port, stop }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One connection: TLS handshake, then bytes both ways until either side closes.
fn relay(acceptor: &SslAcceptor, client: TcpStream, upstream: &str, stopped: &AtomicBool) {
    let _ = client.set_nonblocking(false);
    let Ok(mut tls) = acceptor.accept(client) else {
        return;
    };
    let Ok(mut plain) = TcpStream::connect(upstream) else {
        return;
    };
    // One thread polls both sides with short timeouts: a TLS stream cannot be split.
    let tick = Some(Duration::from_millis(5));
    if tls.get_ref().set_read_timeout(tick).is_err() || plain.set_read_timeout(tick).is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    while !stopped.load(Ordering::Relaxed) {
        if !pump(&mut tls, &mut plain, &mut buf) || !pump(&mut plain, &mut tls, &mut buf) {
            return;
        }
    }
}

/// Moves what `from` has ready to `to`; false once either side has closed or failed.
fn pump(from: &mut impl Read, to: &mut impl Write, buf: &mut [u8]) -> bool {
    match from.read(buf) {
        Ok(0) => false,
        Ok(n) => to.write_all(&buf[..n]).is_ok(),
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}
