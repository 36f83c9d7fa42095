//! Load generation and benchmarking for the traffic pipeline.
//!
//! Module map:
//! - [`sim`]: deterministic simulator of B1 cameras: vehicles, lanes,
//!   congestion episodes, the B1 JSON encoding (single detections or frame
//!   envelopes), deliberately malformed messages, ground truth per
//!   detection, and JSON Lines dumps for replay benchmarks.
//! - [`kafka`]: throughput-tuned producer, topic creation, batch sending
//!   that waits out a full queue.
//! - [`realtime`]: wall-clock paced publishing loop used by the
//!   `mock-producer` binary.
//! - [`harness`]: the `bench` binary's runs: `generate` (JSONL workloads),
//!   `replay` (the dataflow alone, on timely), `load` (JSONL onto a topic),
//!   `e2e` (the pipeline binary from Kafka to PostgreSQL, with bare Kafka
//!   and COPY ceilings), their Prometheus scraping and their reports.
//! - [`traffic_args`]: the traffic options both binaries take.

/// Many small short-lived allocations per event: mimalloc handles them markedly faster than glibc.
/// Declared here, it serves every binary of the crate (`bench`, `mock-producer`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod harness;
pub mod kafka;
pub mod realtime;
pub mod sim;
pub mod traffic_args;
