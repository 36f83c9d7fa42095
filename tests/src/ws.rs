//! WebSocket clients for the tests: tokio-tungstenite clients on a thread of their own that
//! record every frame, a client that stops reading (to be a slow consumer), and the Python
//! `websockets` package as a client written elsewhere.

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use testbed::{Launch, Running};
use tokio_tungstenite::tungstenite::Message;

/// The `ws://` URL of `path` on a query server.
pub fn ws_url(server: &crate::api::QueryServer, path: &str) -> String {
    server.url(path).replacen("http://", "ws://", 1)
}

/// What a client saw: a JSON text frame, or the end of the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Json(Value),
    /// Close code and reason, or `None` when the connection ended without a close frame.
    Closed(Option<(u16, String)>),
}

pub struct WsClient {
    frames: mpsc::Receiver<Frame>,
    close: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WsClient {
    /// Connects to `url` (`ws://...`); fails with the HTTP status if the upgrade is refused.
    pub fn connect(url: &str) -> Result<WsClient, String> {
        Self::connect_with(url, None, None)
    }

    /// A client whose socket receive buffer is `recv_buffer` bytes and that reads nothing until
    /// `start_reading` fires: the slowest consumer there is.
    pub fn connect_stalled(
        url: &str,
        recv_buffer: u32,
    ) -> Result<(WsClient, tokio::sync::oneshot::Sender<()>), String> {
        let (start, wait) = tokio::sync::oneshot::channel();
        Self::connect_with(url, Some(recv_buffer), Some(wait)).map(|c| (c, start))
    }

    fn connect_with(
        url: &str,
        recv_buffer: Option<u32>,
        stalled: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> Result<WsClient, String> {
        let (frames_tx, frames) = mpsc::channel();
        let (connected_tx, connected) = mpsc::channel();
        let (close, close_rx) = tokio::sync::oneshot::channel::<()>();
        let target = url.to_owned();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = connected_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let socket = match open(&target, recv_buffer).await {
                    Ok(socket) => {
                        let _ = connected_tx.send(Ok(()));
                        socket
                    }
                    Err(e) => {
                        let _ = connected_tx.send(Err(e));
                        return;
                    }
                };
                if let Some(wait) = stalled {
                    let _ = wait.await;
                }
                read_all(socket, frames_tx, close_rx).await;
            });
        });
        match connected.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(WsClient {
                frames,
                close: Some(close),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no connection to {url} within 10 s")),
        }
    }

    /// The next frame, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Frame> {
        self.frames.recv_timeout(timeout).ok()
    }

    /// The next JSON frame whose `type` is `kind`, skipping others; `None` after `timeout`
    /// or when the session ends.
    pub fn next_of(&self, kind: &str, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left)? {
                Frame::Json(v) if v["type"] == kind => return Some(v),
                Frame::Json(_) => {}
                Frame::Closed(_) => return None,
            }
        }
    }

    /// Every frame received so far, without waiting.
    pub fn drain(&self) -> Vec<Frame> {
        self.frames.try_iter().collect()
    }

    /// Frames until the session ends or `timeout` passes.
    pub fn until_closed(&self, timeout: Duration) -> (Vec<Value>, Option<Frame>) {
        let deadline = Instant::now() + timeout;
        let mut values = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(Frame::Json(v)) => values.push(v),
                Some(closed) => return (values, Some(closed)),
                None => return (values, None),
            }
        }
    }

    /// Sends a close frame and waits for the reader to finish.
    pub fn close(mut self) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn open(url: &str, recv_buffer: Option<u32>) -> Result<Socket, String> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("not a ws:// url: {url}"))?;
    let addr: std::net::SocketAddr = authority.parse().map_err(|e| format!("{authority}: {e}"))?;
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if let Some(bytes) = recv_buffer {
        socket
            .set_recv_buffer_size(bytes)
            .map_err(|e| e.to_string())?;
    }
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let (socket, _response) = tokio_tungstenite::client_async(url, stream)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                format!("HTTP {}", response.status().as_u16())
            }
            other => other.to_string(),
        })?;
    Ok(socket)
}

async fn read_all(
    mut socket: Socket,
    frames: mpsc::Sender<Frame>,
    mut close: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut close => {
                let _ = socket.close(None).await;
                return;
            }
            message = socket.next() => {
                let frame = match message {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str(text.as_str()) {
                        Ok(value) => Frame::Json(value),
                        Err(e) => Frame::Json(Value::String(format!("not JSON ({e}): {text}"))),
                    },
                    Some(Ok(Message::Close(frame))) => {
                        let _ = frames.send(Frame::Closed(
                            frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                        ));
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        let _ = frames.send(Frame::Closed(None));
                        return;
                    }
                };
                if frames.send(frame).is_err() {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
        }
    }
}

/// The Python `websockets` client (`tests/clients/ws_listen.py`), printing one JSON frame per
/// line and `CLOSED <code> <reason>` at the end.
pub struct PythonClient {
    process: Running,
    pub output: PathBuf,
}

impl PythonClient {
    /// Python comes from `B2_PYTHON` (set by `scripts/test.sh` to a venv with `websockets`),
    /// else `python3`. A missing package fails here with the command that installs it.
    pub fn start(url: &str) -> PythonClient {
        let python = std::env::var("B2_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/ws_listen.py");
        let probe = Command::new(&python)
            .args(["-c", "import websockets"])
            .status();
        assert!(
            probe.is_ok_and(|s| s.success()),
            "{python} cannot import websockets: run scripts/test.sh, or `pip install -r tests/clients/requirements.txt`"
        );
        let output = std::env::temp_dir().join(format!("{}.jsonl", crate::unique_name("ws-py")));
        let process = Launch::new(&python)
            .named("Python client")
            .arg(script)
            .arg(url)
            .stdout_to(&output)
            .spawn()
            .expect("start the Python client");
        PythonClient { process, output }
    }

    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits for the client to exit (it does when the server closes the session).
    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.process.wait(timeout).ok()
    }
}
