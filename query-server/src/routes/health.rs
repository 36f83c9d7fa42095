//! `GET /health`: Kafka and PostgreSQL reachability. `degraded` is still HTTP 200, so a load
//! balancer keeps the server in rotation while a dependency recovers.

use serde_json::json;

use crate::context::{Ctx, Req};
use crate::data::probes;
use crate::http::{json, ApiResult};

pub(crate) async fn get(ctx: &Ctx, _req: &Req) -> ApiResult {
    let (kafka, postgres) = tokio::join!(
        ctx.kafka.reachable(),
        ctx.db.run(|client| Ok(probes::postgres(client)))
    );
    let postgres = postgres.unwrap_or(false);
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    json(&json!({
        "status": if kafka && postgres { "ok" } else { "degraded" },
        "kafka": word(kafka),
        "postgres": word(postgres),
        "uptime_seconds": ctx.started.elapsed().as_secs(),
    }))
}
