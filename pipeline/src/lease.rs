//! One active pipeline per group: fencing and hot standby.
//!
//! A rolling deploy, or an operator starting a second copy, must not have two pipelines writing
//! the same raw events and overwriting each other's positions. The active pipeline holds a
//! session advisory lock on a dedicated connection; a second one started on the same group waits
//! for that lock as a standby, and takes over within a poll interval once the active one's
//! session ends (a `kill -9` closes its socket, and PostgreSQL releases the lock at once).
//!
//! The lock alone is not enough: a connection lost for a moment releases it while the old
//! process may still be about to commit. So taking the lease also bumps a generation number in
//! `pipeline_leases`, and every commit transaction starts with [`fence`], which only passes for
//! the current generation and counts the commit. The row lock taken there orders a commit and a
//! takeover: either the commit lands before the new holder reads its resume point, or it fails.

use bootstrap::database::Database;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::{Client, GenericClient};

use crate::shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("cannot take the pipeline lease: {0}")]
    Database(#[from] postgres::Error),
    #[error("stopped while waiting as a standby")]
    Interrupted,
    #[error("cannot start the lease keeper: {0}")]
    Spawn(#[from] std::io::Error),
}

/// What this process holds once it is the active pipeline of its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub generation: i64,
    /// Commits counted in `pipeline_leases` when the lease was taken.
    pub commits: i64,
}

/// The lease and the thread that keeps its connection (and so its lock) alive.
pub struct Lease {
    pub fence: Fence,
    keeper: JoinHandle<()>,
}

impl Lease {
    /// The keeper thread, which runs until shutdown (or fails the process when superseded).
    pub fn into_thread(self) -> JoinHandle<()> {
        self.keeper
    }
}

const LOCK_KEY_SQL: &str = "hashtextextended('b2-pipeline-lease:' || $1, 0)";
const POLL: Duration = Duration::from_millis(500);

/// Who holds the lease, for operators reading `pipeline_leases`.
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".to_owned());
    format!("{host}:{}", std::process::id())
}

/// A host that vanishes without closing its socket (power loss, a cut network) must not hold the
/// lock for the server's default two hours of keepalive: these make PostgreSQL drop the lease's
/// session, and so release the lock, about 25 s after its peer stopped answering.
const SESSION_KEEPALIVES: &str =
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3";

fn connect(database: &Database) -> Result<Client, postgres::Error> {
    let mut client = database.connect()?;
    client.batch_execute(SESSION_KEEPALIVES)?;
    Ok(client)
}

fn try_lock(client: &mut impl GenericClient, group_id: &str) -> Result<bool, postgres::Error> {
    Ok(client
        .query_one(
            &format!("SELECT pg_try_advisory_lock({LOCK_KEY_SQL})"),
            &[&group_id],
        )?
        .get(0))
}

/// Waits (as a standby) until this process holds the group's lock, then takes a new generation.
/// The lock is kept until `release` fires (after the final drain has committed), so a standby
/// cannot take over while this process still commits what it holds; `shutdown` ends the wait
/// and receives the failure if the lease is lost.
pub fn acquire(
    database: &Database,
    group_id: &str,
    shutdown: &Shutdown,
    release: &Shutdown,
) -> Result<Lease, LeaseError> {
    let holder = holder_name();
    let started = Instant::now();
    let mut last_log: Option<Instant> = None;
    let mut last_error_log: Option<Instant> = None;
    let mut connection: Option<Client> = None;
    // A standby rides out database restarts: it reconnects and goes on waiting.
    let mut client = loop {
        if shutdown.is_triggered() {
            return Err(LeaseError::Interrupted);
        }
        let attempt = match connection.take() {
            Some(c) if !c.is_closed() => Ok(c),
            _ => connect(database),
        }
        .and_then(|mut c| try_lock(&mut c, group_id).map(|locked| (c, locked)));
        match attempt {
            Ok((c, true)) => break c,
            Ok((mut c, false)) => {
                if last_log.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                    let active: Option<String> = c
                        .query_opt(
                            "SELECT holder FROM pipeline_leases WHERE group_id = $1",
                            &[&group_id],
                        )
                        .ok()
                        .flatten()
                        .map(|r| r.get(0));
                    log::info!(
                        "pipeline_standby group={group_id} active={} waiting_s={}",
                        active.as_deref().unwrap_or("unknown"),
                        started.elapsed().as_secs()
                    );
                    last_log = Some(Instant::now());
                }
                connection = Some(c);
            }
            Err(e) => {
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    log::warn!("pipeline_standby_database_error group={group_id} error={e}");
                    last_error_log = Some(Instant::now());
                }
            }
        }
        std::thread::sleep(POLL);
    };
    let row = client.query_one(
        "INSERT INTO pipeline_leases AS l (group_id, generation, holder)
         VALUES ($1, 1, $2)
         ON CONFLICT (group_id) DO UPDATE
             SET generation = l.generation + 1, holder = EXCLUDED.holder, acquired_at = now()
         RETURNING generation, commits",
        &[&group_id, &holder],
    )?;
    let fence = Fence {
        generation: row.get(0),
        commits: row.get(1),
    };
    log::info!(
        "pipeline_lease_acquired group={group_id} generation={} holder={holder} standby_s={:.1}",
        fence.generation,
        started.elapsed().as_secs_f64()
    );
    let database = database.clone();
    let group = group_id.to_owned();
    let keeper_shutdown = shutdown.clone();
    let keeper_release = release.clone();
    let keeper = std::thread::Builder::new()
        .name("pipeline-lease".into())
        .spawn(move || {
            keep(
                client,
                &database,
                &group,
                fence,
                &keeper_shutdown,
                &keeper_release,
            )
        })?;
    Ok(Lease { fence, keeper })
}

/// Keeps the lock's session alive. A lost connection is re-established and the lock retaken if
/// nobody took over meanwhile; a takeover means this process was superseded and must stop.
fn keep(
    mut client: Client,
    database: &Database,
    group_id: &str,
    fence: Fence,
    shutdown: &Shutdown,
    release: &Shutdown,
) {
    let mut connected = true;
    while !release.is_triggered() {
        std::thread::sleep(POLL);
        if connected {
            if client.simple_query("SELECT 1").is_ok() {
                continue;
            }
            log::warn!("pipeline_lease_connection_lost group={group_id}; retaking the lock");
            connected = false;
        }
        let Ok(mut fresh) = connect(database) else {
            continue;
        };
        let generation: Result<Option<i64>, postgres::Error> = try_lock(&mut fresh, group_id)
            .and_then(|locked| {
                if !locked {
                    return Ok(None);
                }
                fresh
                    .query_one(
                        "SELECT generation FROM pipeline_leases WHERE group_id = $1",
                        &[&group_id],
                    )
                    .map(|r| Some(r.get(0)))
            });
        match generation {
            Ok(Some(g)) if g == fence.generation => {
                log::info!(
                    "pipeline_lease_retaken group={group_id} generation={}",
                    fence.generation
                );
                client = fresh;
                connected = true;
            }
            Ok(Some(g)) => {
                shutdown.fail(format!(
                    "pipeline lease of group {group_id} superseded (generation {g}, ours {}): another pipeline is active",
                    fence.generation
                ));
                return;
            }
            Ok(None) => {
                shutdown.fail(format!(
                    "pipeline lease of group {group_id} taken by another pipeline while our connection was down"
                ));
                return;
            }
            Err(_) => {}
        }
    }
    // Dropping the client ends the session and releases the lock for a standby.
}

/// Why a commit must not happen.
#[derive(Debug, thiserror::Error)]
#[error("fenced: group {group_id} is no longer held at generation {generation} (another pipeline took over)")]
pub struct Fenced {
    pub group_id: String,
    pub generation: i64,
}

/// First statement of every commit transaction: passes only for the current generation, and
/// returns the commit's number (the lease row stays locked until the transaction ends).
pub fn fence(
    tx: &mut impl GenericClient,
    group_id: &str,
    generation: i64,
) -> Result<Result<i64, Fenced>, postgres::Error> {
    let row = tx.query_opt(
        "UPDATE pipeline_leases SET commits = commits + 1, committed_at = now()
         WHERE group_id = $1 AND generation = $2 RETURNING commits",
        &[&group_id, &generation],
    )?;
    Ok(match row {
        Some(row) => Ok(row.get(0)),
        None => Err(Fenced {
            group_id: group_id.to_owned(),
            generation,
        }),
    })
}

/// After a connection lost during COMMIT: whether the transaction that would have made commit
/// number `expected` landed (`None` while the database cannot be asked).
pub fn commit_landed(
    client: &mut impl GenericClient,
    group_id: &str,
    generation: i64,
    expected: i64,
) -> Result<bool, postgres::Error> {
    let row = client.query_opt(
        "SELECT generation, commits FROM pipeline_leases WHERE group_id = $1",
        &[&group_id],
    )?;
    Ok(row.is_some_and(|r| r.get::<_, i64>(0) == generation && r.get::<_, i64>(1) >= expected))
}
