//! The REST + WebSocket query server is delivered by its own issue; until then this binary only
//! says so, so that scripts and deployments can already refer to it.

fn main() {
    eprintln!(
        "query-server: not available in this build yet; the pipeline writes to PostgreSQL \
         (see README.md for the psql walkthrough)"
    );
    std::process::exit(2);
}
