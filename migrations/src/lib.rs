//! Ordered SQL migrations of the traffic schema and the code that applies them.
//!
//! The SQL lives in `sql/V<n>__<name>.sql` and is compiled into the binary, so the pipeline and the
//! query server can both bring a database up to date. Each migration runs in its own transaction
//! under an advisory lock and is recorded in `schema_migrations`: applying twice is a no-op, and two
//! processes starting together do not race.

use postgres::GenericClient;

/// One schema change, in the order it must be applied.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core_schema",
        sql: include_str!("../sql/V1__core_schema.sql"),
    },
    Migration {
        version: 2,
        name: "metrics_commit_time_index",
        sql: include_str!("../sql/V2__metrics_commit_time_index.sql"),
    },
    Migration {
        version: 3,
        name: "quarantine_and_leases",
        sql: include_str!("../sql/V3__quarantine_and_leases.sql"),
    },
];

/// Arbitrary constant shared by every process that migrates this schema.
const MIGRATION_LOCK_KEY: i64 = 0x6232_6d69_6772_6174;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration V{version}__{name} failed: {source}")]
    Apply {
        version: i32,
        name: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error("cannot read the migration ledger: {0}")]
    Ledger(#[from] postgres::Error),
    #[error("database has migration V{0}, newer than this build knows; upgrade the binaries")]
    TooNew(i32),
}

/// Applies every migration the database does not have yet; returns the versions applied now.
pub fn apply(client: &mut postgres::Client) -> Result<Vec<i32>, MigrationError> {
    // Held for the whole run, so even the ledger's creation cannot race another process.
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])?;
    let result = apply_locked(client);
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]);
    let applied = result?;
    unlocked?;
    Ok(applied)
}

fn apply_locked(client: &mut postgres::Client) -> Result<Vec<i32>, MigrationError> {
    client.batch_execute(
        "SET client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );
         RESET client_min_messages;",
    )?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let mut tx = client.transaction()?;
        if already_applied(&mut tx, migration.version)? {
            continue;
        }
        let wrap = |source| MigrationError::Apply {
            version: migration.version,
            name: migration.name,
            source,
        };
        tx.batch_execute(migration.sql).map_err(wrap)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        log::info!(
            "migration_applied version={} name={}",
            migration.version,
            migration.name
        );
        applied.push(migration.version);
    }
    let newest: Option<i32> = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    match newest {
        Some(v) if v > known => Err(MigrationError::TooNew(v)),
        _ => Ok(applied),
    }
}

fn already_applied(client: &mut impl GenericClient, version: i32) -> Result<bool, postgres::Error> {
    let row = client.query_opt(
        "SELECT 1 FROM schema_migrations WHERE version = $1",
        &[&version],
    )?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
    }
}
