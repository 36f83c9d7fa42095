//! A TCP proxy in front of PostgreSQL that the test controls: it forwards the wire protocol and
//! can cut a connection right after forwarding a `COMMIT` (the server commits, the client never
//! hears so: an ambiguous commit), or cut every connection and refuse new ones for a while (a
//! network path cut between the pipeline and its database).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Default)]
struct Control {
    /// Commits still to cut.
    cut_commits: AtomicUsize,
    /// Commits cut so far.
    commits_cut: AtomicUsize,
    /// While set, new connections are refused.
    partitioned: AtomicBool,
    stop: AtomicBool,
    open: Mutex<Vec<TcpStream>>,
}

pub struct PgProxy {
    pub addr: String,
    control: Arc<Control>,
}

impl PgProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let control = Arc::new(Control::default());
        let accept_control = control.clone();
        let upstream = upstream.to_owned();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        thread::spawn(move || {
            while !accept_control.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if accept_control.partitioned.load(Ordering::SeqCst) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        connect_pair(client, server, accept_control.clone());
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        PgProxy { addr, control }
    }

    /// `postgres://...@host:port/db` with host and port replaced by the proxy's, and TLS off:
    /// the proxy reads the protocol to find COMMIT, which it could not inside TLS.
    pub fn url_for(&self, database_url: &str) -> String {
        let (scheme_auth, rest) = database_url.split_once('@').map_or(
            (
                "postgres://",
                database_url.trim_start_matches("postgres://"),
            ),
            |(a, r)| (a, r),
        );
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let prefix = if scheme_auth.ends_with("://") {
            scheme_auth.to_owned()
        } else {
            format!("{scheme_auth}@")
        };
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{prefix}{}{path}{separator}sslmode=disable", self.addr)
    }

    /// Cuts the next `n` connections that send `COMMIT`, right after forwarding it.
    pub fn cut_next_commits(&self, n: usize) {
        self.control.cut_commits.store(n, Ordering::SeqCst);
    }

    pub fn commits_cut(&self) -> usize {
        self.control.commits_cut.load(Ordering::SeqCst)
    }

    /// Cuts every open connection and refuses new ones until [`PgProxy::heal`].
    pub fn partition(&self) {
        self.control.partitioned.store(true, Ordering::SeqCst);
        for stream in self.control.open.lock().expect("open list").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.control.partitioned.store(false, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::SeqCst);
        self.partition();
    }
}

fn connect_pair(client: TcpStream, server: TcpStream, control: Arc<Control>) {
    let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    if let Ok(mut open) = control.open.lock() {
        open.extend(client.try_clone());
        open.extend(server.try_clone());
    }
    // Set before a COMMIT to be cut is forwarded: from then on the server's answers are dropped.
    let hold = Arc::new(AtomicBool::new(false));
    let server_hold = hold.clone();
    // Server to client: plain copy.
    let mut to_client = client;
    let mut from_server = server_read;
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from_server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if server_hold.load(Ordering::SeqCst) => break,
                Ok(n) => {
                    if to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_client.shutdown(Shutdown::Both);
    });
    // Client to server: message by message, to see COMMIT.
    thread::spawn(move || {
        let _ = forward_frontend(client_read, server, &control, &hold);
    });
}

fn read_exact(stream: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf)?;
    Ok(buf)
}

/// Forwards frontend messages; after the startup packet(s) every message is a type byte and a
/// big-endian length that counts itself.
fn forward_frontend(
    mut client: TcpStream,
    mut server: TcpStream,
    control: &Control,
    hold: &AtomicBool,
) -> std::io::Result<()> {
    // Startup: length-prefixed without a type byte; an SSLRequest (80877103) comes first if any.
    loop {
        let len_bytes = read_exact(&mut client, 4)?;
        let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let body = read_exact(&mut client, (len as usize).saturating_sub(4))?;
        server.write_all(&len_bytes)?;
        server.write_all(&body)?;
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if code != Some(80_877_103) && code != Some(80_877_104) {
            break;
        }
    }
    loop {
        let head = read_exact(&mut client, 5)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let body = read_exact(&mut client, len.saturating_sub(4))?;
        let is_commit = head[0] == b'Q'
            && String::from_utf8_lossy(&body)
                .trim_end_matches('\0')
                .trim()
                .eq_ignore_ascii_case("COMMIT");
        let cut = is_commit
            && control
                .cut_commits
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if cut {
            hold.store(true, Ordering::SeqCst);
        }
        server.write_all(&head)?;
        server.write_all(&body)?;
        if cut {
            // Let the server commit, then cut: its answer never reaches the client.
            server.flush()?;
            thread::sleep(Duration::from_millis(150));
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            control.commits_cut.fetch_add(1, Ordering::SeqCst);
            return Ok(());
        }
    }
}
