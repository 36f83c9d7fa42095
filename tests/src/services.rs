//! The broker and the database the tests talk to.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Where an [`OwnedBroker`] keeps its topics and messages.
#[derive(Debug, Clone)]
pub enum BrokerStorage {
    /// tansu's memory store: everything is gone when the broker stops.
    Memory,
    /// A bucket on an S3-compatible server of the test's own (moto, `python3 -m moto.server`),
    /// through tansu's dynostore engine: topics and messages outlive broker restarts (not the S3
    /// server, which keeps its objects in memory and stops with the [`OwnedBroker`]).
    LocalS3,
    /// Any other `--storage-engine` URL, e.g. `postgres://...` for a tansu built with that engine.
    Url(String),
}

/// The cluster id of every [`OwnedBroker`]: dynostore keeps a cluster's data under its id, so a
/// restarted broker must use the same one.
const OWNED_CLUSTER_ID: &str = "tansu-owned";
/// The bucket of [`BrokerStorage::LocalS3`].
const OWNED_BUCKET: &str = "tansu";

/// A tansu broker of the test's own, on a free port, that the test can stop (SIGTERM or
/// `kill -9`, by PID) and restart on the same port with the same storage. Never the shared broker.
pub struct OwnedBroker {
    /// `127.0.0.1:port`, for clients.
    pub brokers: String,
    port: u16,
    bin: PathBuf,
    storage_url: String,
    env: Vec<(String, String)>,
    /// The S3 server of [`BrokerStorage::LocalS3`] and its endpoint.
    s3: Option<(Child, String)>,
    /// The Python that runs the S3 server (its boto3 edits the bucket).
    python: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl OwnedBroker {
    pub fn start(storage: BrokerStorage) -> OwnedBroker {
        let bin = tansu_binary().unwrap_or_else(|| {
            panic!("tansu is not installed; run `bash scripts/broker.sh install`")
        });
        let log_path = std::env::temp_dir().join(format!("{}.log", crate::unique_name("tansu")));
        let port = free_port();
        let mut broker = OwnedBroker {
            brokers: format!("127.0.0.1:{port}"),
            port,
            bin,
            storage_url: String::new(),
            env: Vec::new(),
            s3: None,
            // scripts/test.sh installs moto into the venv it exports as B2_PYTHON.
            python: std::env::var("B2_S3_PYTHON")
                .or_else(|_| std::env::var("B2_PYTHON"))
                .unwrap_or_else(|_| "python3".into()),
            child: None,
            log_path,
        };
        match storage {
            BrokerStorage::Memory => broker.storage_url = "memory://tansu/".into(),
            BrokerStorage::Url(url) => broker.storage_url = url,
            BrokerStorage::LocalS3 => {
                let endpoint = broker.start_s3_server();
                broker.storage_url = format!("s3://{OWNED_BUCKET}/");
                broker.env = vec![
                    ("AWS_ENDPOINT".into(), endpoint),
                    ("AWS_ALLOW_HTTP".into(), "true".into()),
                    ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                    ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
                ];
            }
        }
        broker.spawn();
        broker
    }

    fn log_file(&self) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("broker log file")
    }

    /// Starts moto's S3 server on a free port and creates the bucket; returns its endpoint.
    fn start_s3_server(&mut self) -> String {
        let python = self.python.clone();
        let importable = Command::new(&python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            importable,
            "{python} cannot import moto.server (the local S3 server); install it: pip install 'moto[server]'"
        );
        let port = free_port();
        let log = self.log_file();
        let child = Command::new(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start the S3 server");
        let endpoint = format!("http://127.0.0.1:{port}");
        self.s3 = Some((child, endpoint.clone()));
        let addr = format!("127.0.0.1:{port}");
        crate::wait_for("the S3 server's port", Duration::from_secs(30), || {
            port_open(&addr).then_some(())
        });
        ureq::put(&format!("{endpoint}/{OWNED_BUCKET}"))
            .send_empty()
            .expect("create the broker's bucket");
        endpoint
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = self.log_file();
        // tansu reads a .env from its working directory and every parent: start it from /.
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                &self.storage_url,
                "--cluster-id",
                OWNED_CLUSTER_ID,
            ])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let started = Instant::now();
        while !port_open(&self.brokers) {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && started.elapsed() < Duration::from_secs(30),
                "tansu did not open {} ({exited:?}); log:\n{}",
                self.brokers,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn storage_url(&self) -> &str {
        &self.storage_url
    }

    /// The broker's output (and the S3 server's), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM to the broker's PID, then `kill -9` if it has not exited within 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `kill -9` of the broker's PID: no chance to flush or close anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port with the same storage (after a stop or kill).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the broker before restarting it");
        self.spawn();
    }

    /// Grows `topic` to `partitions` partitions: CreatePartitions where the broker has it; tansu
    /// 0.6.0 has not, so with [`BrokerStorage::LocalS3`] the partition count is raised in the
    /// topic metadata the dynostore engine keeps in the bucket (the broker re-reads it on every
    /// metadata request).
    pub fn add_partitions(&self, topic: &str, partitions: i32) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
        use rdkafka::client::DefaultClientContext;
        let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("admin client");
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let answer = runtime.block_on(
            admin.create_partitions([&NewPartitions::new(topic, partitions as usize)], &options),
        );
        match answer {
            Ok(results) if results.iter().all(Result::is_ok) => return,
            other => {
                eprintln!("CreatePartitions refused ({other:?}); growing the topic in storage")
            }
        }
        let Some((_, endpoint)) = &self.s3 else {
            panic!("the broker cannot add partitions and its storage is not LocalS3");
        };
        // The bucket's objects are private: a signed request, through moto's own boto3.
        let script = format!(
            "import boto3, json\n\
             s3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1',\n\
                 aws_access_key_id='test', aws_secret_access_key='test')\n\
             key = 'clusters/{OWNED_CLUSTER_ID}/meta.json'\n\
             meta = json.loads(s3.get_object(Bucket='{OWNED_BUCKET}', Key=key)['Body'].read())\n\
             meta['topics']['{topic}']['topic']['num_partitions'] = {partitions}\n\
             s3.put_object(Bucket='{OWNED_BUCKET}', Key=key, Body=json.dumps(meta).encode())\n"
        );
        let output = Command::new(&self.python)
            .args(["-c", &script])
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "cannot grow topic {topic} in the broker's storage: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The broker answers from its cached copy for a moment; producers to the new partitions
        // need them in the metadata.
        let client: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .expect("metadata client");
        crate::wait_for(
            "the broker's metadata to list the new partitions",
            Duration::from_secs(60),
            || {
                use rdkafka::consumer::Consumer as _;
                let metadata = client
                    .fetch_metadata(Some(topic), Duration::from_secs(5))
                    .ok()?;
                let listed = metadata.topics().first()?.partitions().len();
                (listed == partitions as usize).then_some(())
            },
        );
    }
}

impl Drop for OwnedBroker {
    fn drop(&mut self) {
        self.kill9();
        if let Some((mut s3, _)) = self.s3.take() {
            let _ = s3.kill();
            let _ = s3.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- owned broker log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
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
