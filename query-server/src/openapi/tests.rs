//! The document against the route table, and its internal consistency.

use std::collections::BTreeSet;

use serde_json::Value;

use super::document;
use super::operations::TAGS;
use super::parameters::template_params;
use super::schemas::schema_ref;
use crate::routes::analytics::compared_kpis;
use crate::routes::Route;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

#[test]
fn paths_match_the_route_table_both_ways() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let routes: BTreeSet<(String, String)> = Route::ALL
        .iter()
        .map(|r| {
            let (m, t) = r.spec();
            (m.as_str().to_ascii_lowercase(), t.to_owned())
        })
        .collect();
    let mut documented = BTreeSet::new();
    for (template, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{template}: {method}");
            documented.insert((method.clone(), template.clone()));
        }
    }
    assert_eq!(routes, documented);
}

#[test]
fn document_is_structurally_sound() {
    let doc = document();
    assert!(doc["openapi"]
        .as_str()
        .expect("version")
        .starts_with("3.1."));
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let tags: BTreeSet<&str> = TAGS.iter().map(|(n, _)| *n).collect();
    let mut operation_ids = BTreeSet::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        assert!(template.starts_with('/'), "{template}");
        let declared_in_template: BTreeSet<&str> = template_params(template).into_iter().collect();
        for (method, operation) in item.as_object().expect("item") {
            let at = format!("{method} {template}");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{at}: no responses");
            // A WebSocket's success is the 101 that starts the session.
            let success = if template.starts_with("/ws/") {
                "101"
            } else {
                "2"
            };
            assert!(
                responses.keys().any(|s| s.starts_with(success)),
                "{at}: no success response"
            );
            for (status, response) in responses {
                assert!(status.parse::<u16>().is_ok(), "{at}: status {status}");
                assert!(
                    response["description"].is_string(),
                    "{at} {status}: description"
                );
            }
            assert!(operation_ids.insert(
                operation["operationId"]
                    .as_str()
                    .expect("operationId")
                    .to_owned()
            ));
            let tag = operation["tags"][0].as_str().expect("tag");
            assert!(tags.contains(tag), "{at}: tag {tag} not declared");
            let params = operation["parameters"].as_array().expect("parameters");
            let mut seen = BTreeSet::new();
            let mut in_path = BTreeSet::new();
            for p in params {
                let name = p["name"].as_str().expect("name");
                let place = p["in"].as_str().expect("in");
                assert!(seen.insert((name, place)), "{at}: {name} declared twice");
                assert!(p["schema"].is_object(), "{at}: {name} without schema");
                if place == "path" {
                    assert_eq!(
                        p["required"], true,
                        "{at}: path parameter {name} must be required"
                    );
                    in_path.insert(name);
                }
            }
            assert_eq!(declared_in_template, in_path, "{at}: path parameters");
            let admin = template.starts_with("/api/admin/");
            assert_eq!(operation.get("security").is_some(), admin, "{at}: security");
            if admin {
                assert!(
                    responses.contains_key("401") && responses.contains_key("403"),
                    "{at}"
                );
            }
        }
    }
    // Every `$ref` points at a schema that exists.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().expect("ref name");
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    assert_eq!(schemes["adminToken"]["name"], "X-Admin-Token");
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
}

/// Every `$ref` anywhere in `value`, with the JSON path where it occurs.
fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    out.push((at.clone(), child.as_str().unwrap_or_default()));
                } else {
                    refs(child, format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_ref_resolves_to_a_component_schema() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(!found.is_empty());
    let mut used = BTreeSet::new();
    for (at, target) in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{at}: $ref {target:?} is not a component schema"));
        assert!(schemas.contains_key(name), "{at}: dangling $ref {name}");
        used.insert(name.to_owned());
    }
    for name in schemas.keys() {
        assert!(used.contains(name), "component schema {name} is never used");
    }
}

#[test]
fn json_success_responses_have_real_schemas() {
    let doc = document();
    assert!(doc["components"]["schemas"].get("AnyJson").is_none());
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let at = format!("{method} {template}");
            let responses = operation["responses"].as_object().expect("responses");
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                let Some(content) = response.get("content").and_then(Value::as_object) else {
                    assert_eq!(status, "204", "{at}: {status} without a body");
                    continue;
                };
                for (media, body) in content {
                    let schema = &body["schema"];
                    if media == "application/json" {
                        // The OpenAPI document describes itself only as an object.
                        if template == "/openapi.json" {
                            assert_eq!(schema["type"], "object", "{at}");
                            continue;
                        }
                        let target = schema["$ref"].as_str().unwrap_or_else(|| {
                            panic!("{at} {status}: JSON body without a component schema")
                        });
                        assert!(!target.ends_with("/AnyJson"), "{at} {status}: AnyJson");
                    } else {
                        assert_eq!(schema["type"], "string", "{at} {status} {media}");
                    }
                }
            }
        }
    }
}

#[test]
fn list_pages_share_the_envelope() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "CameraPage",
        "CameraCongestionPage",
        "MetricHistoryPage",
        "HeatmapPage",
        "IncidentPage",
        "AlertPage",
        "AlertHistoryPage",
    ] {
        let schema = &schemas[name];
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in ["items", "count", "limit", "offset", "next_offset"] {
            assert!(required.contains(field), "{name}: {field} not required");
        }
        for field in schema["properties"].as_object().expect("properties").keys() {
            assert!(
                required.contains(field.as_str()),
                "{name}: {field} optional"
            );
        }
    }
    let deltas = &schemas["AnalyticsComparison"]["properties"]["deltas"];
    assert_eq!(
        deltas["properties"].as_object().expect("kpis").len(),
        compared_kpis().len()
    );
    assert_eq!(deltas["additionalProperties"], schema_ref("KpiDelta"));
}
