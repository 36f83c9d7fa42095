//! The one router: `(method, path segments)` to a [`Route`], then to its handler. [`Route::ALL`]
//! is also the table the OpenAPI document is checked against.

use hyper::Method;

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::ApiResult;
use crate::routes;
use crate::ws::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Health,
    Cameras,
    MetricsCurrent,
    MetricsHistory,
    CongestionCurrent,
    DashboardSummary,
    DashboardEvents,
    MapHeatmap,
    MapIncidents,
    AlertsCurrent,
    AlertsHistory,
    AlertAcknowledge,
    AlertsExport,
    AnalyticsMetrics,
    AnalyticsCompare,
    AnalyticsReportPdf,
    PredictCongestion,
    AdminThresholdsGet,
    AdminThresholdsPut,
    AdminZonesList,
    AdminZonesCreate,
    AdminZoneUpdate,
    AdminZoneDelete,
    AdminCamerasList,
    AdminCameraPut,
    AdminBroadcast,
    Prometheus,
    OpenApi,
    Docs,
    WsMetrics,
    WsMetricsLanes,
    WsEvents,
}

impl Route {
    pub const ALL: &'static [Route] = &[
        Route::Health,
        Route::Cameras,
        Route::MetricsCurrent,
        Route::MetricsHistory,
        Route::CongestionCurrent,
        Route::DashboardSummary,
        Route::DashboardEvents,
        Route::MapHeatmap,
        Route::MapIncidents,
        Route::AlertsCurrent,
        Route::AlertsHistory,
        Route::AlertAcknowledge,
        Route::AlertsExport,
        Route::AnalyticsMetrics,
        Route::AnalyticsCompare,
        Route::AnalyticsReportPdf,
        Route::PredictCongestion,
        Route::AdminThresholdsGet,
        Route::AdminThresholdsPut,
        Route::AdminZonesList,
        Route::AdminZonesCreate,
        Route::AdminZoneUpdate,
        Route::AdminZoneDelete,
        Route::AdminCamerasList,
        Route::AdminCameraPut,
        Route::AdminBroadcast,
        Route::Prometheus,
        Route::OpenApi,
        Route::Docs,
        Route::WsMetrics,
        Route::WsMetricsLanes,
        Route::WsEvents,
    ];

    /// Method and path template (OpenAPI style), also the `route` label of the metrics.
    pub fn spec(self) -> (Method, &'static str) {
        use Route::*;
        match self {
            Health => (Method::GET, "/health"),
            Cameras => (Method::GET, "/cameras"),
            MetricsCurrent => (Method::GET, "/metrics/current"),
            MetricsHistory => (Method::GET, "/metrics/history"),
            CongestionCurrent => (Method::GET, "/congestion/current"),
            DashboardSummary => (Method::GET, "/api/dashboard/summary"),
            DashboardEvents => (Method::GET, "/api/dashboard/events"),
            MapHeatmap => (Method::GET, "/api/map/heatmap"),
            MapIncidents => (Method::GET, "/api/map/incidents"),
            AlertsCurrent => (Method::GET, "/api/alerts/current"),
            AlertsHistory => (Method::GET, "/api/alerts/history"),
            AlertAcknowledge => (Method::POST, "/api/alerts/{alert_id}/acknowledge"),
            AlertsExport => (Method::GET, "/api/alerts/export"),
            AnalyticsMetrics => (Method::GET, "/api/analytics/metrics"),
            AnalyticsCompare => (Method::GET, "/api/analytics/compare"),
            AnalyticsReportPdf => (Method::GET, "/api/analytics/report/pdf"),
            PredictCongestion => (Method::GET, "/api/predict/congestion"),
            AdminThresholdsGet => (Method::GET, "/api/admin/thresholds"),
            AdminThresholdsPut => (Method::PUT, "/api/admin/thresholds"),
            AdminZonesList => (Method::GET, "/api/admin/zones"),
            AdminZonesCreate => (Method::POST, "/api/admin/zones"),
            AdminZoneUpdate => (Method::PUT, "/api/admin/zones/{zone_id}"),
            AdminZoneDelete => (Method::DELETE, "/api/admin/zones/{zone_id}"),
            AdminCamerasList => (Method::GET, "/api/admin/cameras"),
            AdminCameraPut => (Method::PUT, "/api/admin/cameras/{camera_id}"),
            AdminBroadcast => (Method::POST, "/api/admin/notifications/broadcast"),
            Prometheus => (Method::GET, "/metrics"),
            OpenApi => (Method::GET, "/openapi.json"),
            Docs => (Method::GET, "/docs"),
            WsMetrics => (Method::GET, "/ws/metrics"),
            WsMetricsLanes => (Method::GET, "/ws/metrics/lanes"),
            WsEvents => (Method::GET, "/ws/events"),
        }
    }

    /// Read-mostly routes every dashboard polls, answered from [`crate::live::HotCache`].
    /// (`/metrics/current`, `/congestion/current` and `/api/alerts/current` read the live state.)
    pub fn is_hot(self) -> bool {
        matches!(
            self,
            Route::Cameras | Route::DashboardSummary | Route::MapHeatmap | Route::MapIncidents
        )
    }

    /// The WebSocket channel a route upgrades to.
    pub fn websocket(self) -> Option<Channel> {
        match self {
            Route::WsMetrics => Some(Channel::Metrics),
            Route::WsMetricsLanes => Some(Channel::Lanes),
            Route::WsEvents => Some(Channel::Events),
            _ => None,
        }
    }

    pub fn is_admin(self) -> bool {
        self.spec().1.starts_with("/api/admin/")
    }
}

/// The route and its path parameters, 404 for an unknown path, 405 (with the allowed methods)
/// for a known path with another method.
pub fn resolve(method: &Method, path: &str) -> Result<(Route, Vec<String>), ResolveError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut allowed = Vec::new();
    for route in Route::ALL {
        let (route_method, template) = route.spec();
        if let Some(params) = match_template(template, &segments) {
            if route_method == *method || (route_method == Method::GET && *method == Method::HEAD) {
                return Ok((*route, params));
            }
            allowed.push(route_method);
        }
    }
    if allowed.is_empty() {
        Err(ResolveError::NotFound)
    } else {
        Err(ResolveError::MethodNotAllowed(allowed))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    NotFound,
    MethodNotAllowed(Vec<Method>),
}

fn match_template(template: &str, segments: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            let decoded = form_urlencoded::parse(format!("v={segment}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            params.push(decoded);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Calls the route's handler.
pub async fn dispatch(route: Route, ctx: &Ctx, req: &Req) -> ApiResult {
    use Route::*;
    match route {
        Health => routes::health::get(ctx, req).await,
        Cameras => routes::cameras::list(ctx, req).await,
        MetricsCurrent => routes::metrics::current(ctx, req).await,
        MetricsHistory => routes::metrics::history(ctx, req).await,
        CongestionCurrent => routes::cameras::congestion_current(ctx, req).await,
        DashboardSummary => routes::dashboard::summary(ctx, req).await,
        DashboardEvents => routes::dashboard::events(ctx, req).await,
        MapHeatmap => routes::map::heatmap(ctx, req).await,
        MapIncidents => routes::map::incidents(ctx, req).await,
        AlertsCurrent => routes::alerts::current(ctx, req).await,
        AlertsHistory => routes::alerts::history(ctx, req).await,
        AlertAcknowledge => routes::alerts::acknowledge(ctx, req).await,
        AlertsExport => routes::alerts::export(ctx, req).await,
        AnalyticsMetrics => routes::analytics::metrics(ctx, req).await,
        AnalyticsCompare => routes::analytics::compare(ctx, req).await,
        AnalyticsReportPdf => routes::analytics::report_pdf(ctx, req).await,
        PredictCongestion => routes::predict::congestion(ctx, req).await,
        AdminThresholdsGet => routes::admin::thresholds_get(ctx, req).await,
        AdminThresholdsPut => routes::admin::thresholds_put(ctx, req).await,
        AdminZonesList => routes::admin::zones_list(ctx, req).await,
        AdminZonesCreate => routes::admin::zones_create(ctx, req).await,
        AdminZoneUpdate => routes::admin::zone_update(ctx, req).await,
        AdminZoneDelete => routes::admin::zone_delete(ctx, req).await,
        AdminCamerasList => routes::admin::cameras_list(ctx, req).await,
        AdminCameraPut => routes::admin::camera_put(ctx, req).await,
        AdminBroadcast => routes::admin::broadcast(ctx, req).await,
        Prometheus => routes::telemetry::prometheus(ctx, req).await,
        OpenApi => routes::docs::openapi(ctx, req).await,
        Docs => routes::docs::page(ctx, req).await,
        // Upgrades are taken over by the server before dispatch; what arrives here (HEAD) is not one.
        WsMetrics | WsMetricsLanes | WsEvents => Err(ApiError::new(
            hyper::StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: connect with a WebSocket client (ws://...)",
        )),
    }
}

/// 404 and 405 as API errors (405 carries the allowed methods in its message; the server adds `Allow`).
pub fn resolve_error(error: &ResolveError, path: &str) -> ApiError {
    match error {
        ResolveError::NotFound => ApiError::not_found(format!("no route for {path}")),
        ResolveError::MethodNotAllowed(allowed) => ApiError::new(
            hyper::StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "method not allowed on {path}; allowed: {}",
                allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_params_and_methods() {
        assert_eq!(
            resolve(&Method::GET, "/health"),
            Ok((Route::Health, vec![]))
        );
        assert_eq!(
            resolve(&Method::GET, "/metrics"),
            Ok((Route::Prometheus, vec![]))
        );
        assert_eq!(
            resolve(&Method::POST, "/api/alerts/42/acknowledge"),
            Ok((Route::AlertAcknowledge, vec!["42".to_owned()]))
        );
        assert_eq!(
            resolve(&Method::PUT, "/api/admin/cameras/cam%2001"),
            Ok((Route::AdminCameraPut, vec!["cam 01".to_owned()]))
        );
        assert_eq!(resolve(&Method::GET, "/nope"), Err(ResolveError::NotFound));
        assert!(matches!(
            resolve(&Method::DELETE, "/api/admin/thresholds"),
            Err(ResolveError::MethodNotAllowed(m)) if m == vec![Method::GET, Method::PUT]
        ));
    }

    #[test]
    fn templates_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for route in Route::ALL {
            assert!(
                seen.insert(route.spec()),
                "{route:?} duplicates another route"
            );
        }
    }
}
