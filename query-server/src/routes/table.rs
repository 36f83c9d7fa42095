//! The route table: every route the server answers, with its method and path template. The
//! router matches requests against it, the metrics label requests by its templates, and the
//! OpenAPI document is built from it (and checked against it both ways).

use hyper::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
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
    pub(crate) const ALL: &'static [Route] = &[
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
    pub(crate) fn spec(self) -> (Method, &'static str) {
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
    pub(crate) fn is_hot(self) -> bool {
        matches!(
            self,
            Route::Cameras | Route::DashboardSummary | Route::MapHeatmap | Route::MapIncidents
        )
    }

    /// Admin routes need the admin token (`middleware::auth` checks it).
    pub(crate) fn is_admin(self) -> bool {
        self.spec().1.starts_with("/api/admin/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
