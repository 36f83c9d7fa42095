//! The broker and the database the tests talk to.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testbed::net::{free_port, port_open, with_database};
use testbed::{Launch, Running};

/// Admin URL of the PostgreSQL server (tests create their own databases on it): the maintenance
/// database of the server `DATABASE_URL` names.
pub fn postgres_admin_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/traffic".into());
    with_database(&url, "postgres")
}

/// A free loopback port for a child server.
fn port() -> u16 {
    free_port().expect("a free loopback port")
}

/// The broker for this test: the environment's, or one started here and stopped on drop.
pub struct Broker {
    pub brokers: String,
    /// Held only to be stopped when the test ends.
    _own: Option<OwnedBroker>,
}

impl Broker {
    pub fn get() -> Broker {
        let configured = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
        if configured.split(',').any(port_open) {
            return Broker {
                brokers: configured,
                _own: None,
            };
        }
        assert!(
            tansu_binary().is_some(),
            "no Kafka-protocol broker at {configured} and no tansu binary found; \
             run `bash scripts/broker.sh start` (or `bash scripts/test.sh`, which does it)"
        );
        let own = OwnedBroker::start(BrokerStorage::Memory);
        Broker {
            brokers: own.brokers.clone(),
            _own: Some(own),
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
    /// What the broker tells clients to connect to; its own address unless a proxy fronts it.
    advertised: Option<String>,
    env: Vec<(String, String)>,
    /// The S3 server of [`BrokerStorage::LocalS3`] and its endpoint.
    s3: Option<(Running, String)>,
    /// The Python that runs the S3 server (its boto3 edits the bucket).
    python: String,
    child: Option<Running>,
    log_path: PathBuf,
}

impl OwnedBroker {
    pub fn start(storage: BrokerStorage) -> OwnedBroker {
        OwnedBroker::start_advertising(storage, None)
    }

    /// A broker that tells clients to connect to `advertised` (`host:port`, a proxy in front of
    /// it) instead of its own address.
    pub fn start_advertising(storage: BrokerStorage, advertised: Option<&str>) -> OwnedBroker {
        let bin = tansu_binary().unwrap_or_else(|| {
            panic!("tansu is not installed; run `bash scripts/broker.sh install`")
        });
        let log_path = std::env::temp_dir().join(format!("{}.log", crate::unique_name("tansu")));
        let port = port();
        let mut broker = OwnedBroker {
            brokers: format!("127.0.0.1:{port}"),
            port,
            bin,
            storage_url: String::new(),
            advertised: advertised.map(|a| format!("tcp://{a}")),
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
        let port = port();
        let child = Launch::new(&python)
            .named("S3 server")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .current_dir("/")
            .append_log_to(&self.log_path)
            .spawn()
            .expect("start the S3 server");
        let endpoint = format!("http://127.0.0.1:{port}");
        self.s3 = Some((child, endpoint.clone()));
        let addr = format!("127.0.0.1:{port}");
        crate::wait_for("the S3 server's port", Duration::from_secs(30), || {
            port_open(&addr).then_some(())
        });
        let created =
            testbed::http::request("PUT", &format!("{endpoint}/{OWNED_BUCKET}"), &[], None)
                .expect("create the broker's bucket");
        assert_eq!(
            created.status,
            200,
            "create the broker's bucket: {}",
            created.text()
        );
        endpoint
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = self.advertised.clone().unwrap_or_else(|| url.clone());
        // tansu reads a .env from its working directory and every parent: start it from /.
        let child = Launch::new(&self.bin)
            .named("owned broker")
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                &self.storage_url,
                "--cluster-id",
                OWNED_CLUSTER_ID,
            ])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .current_dir("/")
            .append_log_to(&self.log_path)
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
        self.child.as_ref().and_then(Running::pid)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(Running::is_running)
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
        if let Some(mut child) = self.child.take() {
            let _ = child.stop(Duration::from_secs(10));
        }
    }

    /// `kill -9` of the broker's PID: no chance to flush or close anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
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
        match bench::kafka::create_partitions(&self.brokers, topic, partitions) {
            Ok(()) => return,
            Err(e) => eprintln!("CreatePartitions refused ({e:#}); growing the topic in storage"),
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
        crate::run_ok(
            Command::new(&self.python).args(["-c", &script]),
            &format!("growing topic {topic} in the broker's storage"),
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
