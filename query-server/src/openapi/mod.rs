//! The OpenAPI 3.1 document, and the two routes that serve it: `GET /openapi.json` and
//! `GET /docs` (a self-contained page that renders it; the docs work on machines with no
//! internet access, so nothing is loaded from a CDN).
//!
//! Paths and methods come from [`Route::ALL`], so a route cannot exist without being documented,
//! and path parameters are read from the templates themselves. What cannot be derived is
//! written next to each route:
//! - [`operations`]: tags, summaries, descriptions, query parameters, bodies, responses.
//! - [`parameters`]: query and path parameters.
//! - [`responses`]: response entries and the read routes' body schemas.
//! - [`schemas`]: the schema vocabulary, request and admin bodies.
//!
//! The document describes the routes, so it sits above them: it reads their limits and level
//! lists instead of repeating them.

mod operations;
mod parameters;
mod responses;
mod schemas;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{with_type, ApiResult};
use crate::routes::Route;
use operations::{operation, operation_id, TAGS};
use parameters::{path_param, template_params};
use responses::err;

const PAGE: &str = include_str!("docs.html");

/// `GET /openapi.json`, built once: it depends only on the route table.
pub(crate) async fn serve_document(_ctx: &Ctx, _req: &Req) -> ApiResult {
    static DOCUMENT: OnceLock<Option<Bytes>> = OnceLock::new();
    let bytes = DOCUMENT
        .get_or_init(|| {
            serde_json::to_vec(&document())
                .map(Bytes::from)
                .map_err(|e| log::error!("openapi_encode_failed error={e}"))
                .ok()
        })
        .clone()
        .ok_or_else(|| ApiError::internal("cannot encode the OpenAPI document"))?;
    Ok(with_type(StatusCode::OK, "application/json", bytes))
}

/// `GET /docs`.
pub(crate) async fn serve_page(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Ok(with_type(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from_static(PAGE.as_bytes()),
    ))
}

/// Builds the whole document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for &route in Route::ALL {
        let (method, template) = route.spec();
        let op = operation(route);
        let mut parameters: Vec<Value> = template_params(template)
            .into_iter()
            .map(path_param)
            .collect();
        parameters.extend(op.query);
        let mut responses = Map::new();
        let mut all = op.responses;
        if route.is_admin() {
            all.push(err(
                401,
                "No admin token (X-Admin-Token or Authorization: Bearer)",
            ));
            all.push(err(
                403,
                "Wrong admin token, or admin routes disabled (ADMIN_API_KEY unset)",
            ));
        }
        if !matches!(
            route,
            Route::Health | Route::Prometheus | Route::OpenApi | Route::Docs
        ) {
            all.push(err(503, "Database unavailable"));
        }
        for (status, description, content) in all {
            let mut response = json!({"description": description});
            if let Some((media, schema)) = content {
                response["content"] = json!({media: {"schema": schema}});
            }
            // The first entry for a status wins (a route's own 503 before the generic one).
            responses.entry(status.to_string()).or_insert(response);
        }
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "operationId": operation_id(route),
            "parameters": parameters,
            "responses": responses,
        });
        if !op.description.is_empty() {
            operation["description"] = json!(op.description);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = body;
        }
        if route.is_admin() {
            operation["security"] = json!([{"adminToken": []}, {"bearerAuth": []}]);
        }
        let item = paths
            .entry(template.to_owned())
            .or_insert_with(|| json!({}));
        item[method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Traffic query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST API over the traffic metrics, alerts and zones the pipeline stores. \
                Timestamps are UTC RFC 3339 with milliseconds. Every error is `{\"error\", \"status\"}` JSON; \
                a bad parameter is a 400 (or 422 for a body field) whose message names it.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": TAGS.iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token", "description": "The server's ADMIN_API_KEY."},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <ADMIN_API_KEY>`."},
            },
            "schemas": components(),
        },
    })
}

/// Every component schema.
fn components() -> Map<String, Value> {
    let mut all = schemas::schemas();
    all.extend(responses::read_route_schemas());
    all
}
