//! The route table's one match: each [`Route`] to its handler.

use hyper::StatusCode;

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::ApiResult;
use crate::openapi;
use crate::routes::{self, Route};

pub(super) async fn dispatch(route: Route, ctx: &Ctx, req: &Req) -> ApiResult {
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
        AdminThresholdsGet => routes::admin::thresholds::get(ctx, req).await,
        AdminThresholdsPut => routes::admin::thresholds::put(ctx, req).await,
        AdminZonesList => routes::admin::zones::list(ctx, req).await,
        AdminZonesCreate => routes::admin::zones::create(ctx, req).await,
        AdminZoneUpdate => routes::admin::zones::update(ctx, req).await,
        AdminZoneDelete => routes::admin::zones::delete(ctx, req).await,
        AdminCamerasList => routes::admin::cameras::list(ctx, req).await,
        AdminCameraPut => routes::admin::cameras::put(ctx, req).await,
        AdminBroadcast => routes::admin::broadcast::post(ctx, req).await,
        Prometheus => routes::telemetry::prometheus(ctx, req).await,
        OpenApi => openapi::serve_document(ctx, req).await,
        Docs => openapi::serve_page(ctx, req).await,
        // Upgrades are taken over before dispatch; what arrives here (HEAD) is not one.
        WsMetrics | WsMetricsLanes | WsEvents => Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: connect with a WebSocket client (ws://...)",
        )),
    }
}
