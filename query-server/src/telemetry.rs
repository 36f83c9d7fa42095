//! The API's Prometheus metrics (labelled by route template, not raw path). Log lines are
//! `bootstrap::logging`'s, installed by `main`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) status: String,
}

/// Label sets of one label each, the label named as the field.
macro_rules! one_label {
    ($($name:ident { $field:ident }),* $(,)?) => {$(
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub(crate) struct $name {
            pub(crate) $field: String,
        }
    )*};
}

one_label! {
    RouteLabel { route },
    ChannelLabel { channel },
    ReasonLabel { reason },
    SourceLabel { source },
}

pub(crate) struct ApiMetrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: Family<RouteLabel, Histogram>,
    /// Open WebSocket sessions per channel path.
    pub(crate) ws_clients: Family<ChannelLabel, Gauge>,
    /// Frames sent to WebSocket clients (updates and snapshots).
    pub(crate) ws_messages: Counter,
    /// Sessions the server ended, by reason (slow, send_timeout, no_pong, refused, shutdown).
    pub(crate) ws_closed: Family<ReasonLabel, Counter>,
    /// Live-state updates published, by where they were found (notification or resync).
    pub(crate) live_update_count: Family<SourceLabel, Counter>,
    pub(crate) live_disconnects: Counter,
    /// From an update's publication to its frame flushed to a client's socket.
    pub(crate) ws_delivery: Histogram,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiMetrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        registry.register(
            "b2_api_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "b2_api_request_latency_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        let ws_clients = Family::<ChannelLabel, Gauge>::default();
        registry.register(
            "b2_ws_clients",
            "Open WebSocket sessions by channel",
            ws_clients.clone(),
        );
        let ws_messages = Counter::default();
        registry.register(
            "b2_ws_messages_sent",
            "Frames sent to WebSocket clients",
            ws_messages.clone(),
        );
        let ws_closed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "b2_ws_closed_by_server",
            "WebSocket sessions ended by the server, by reason",
            ws_closed.clone(),
        );
        let live_update_count = Family::<SourceLabel, Counter>::default();
        registry.register(
            "b2_live_updates",
            "Live-state updates published to WebSocket channels, by source",
            live_update_count.clone(),
        );
        let live_disconnects = Counter::default();
        registry.register(
            "b2_live_listen_disconnects",
            "Times the LISTEN connection was lost",
            live_disconnects.clone(),
        );
        let ws_delivery = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        registry.register(
            "b2_ws_delivery_latency_seconds",
            "From a live update's publication to its frame written to a WebSocket client",
            ws_delivery.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            ws_delivery,
            ws_clients,
            ws_messages,
            ws_closed,
            live_update_count,
            live_disconnects,
        }
    }

    pub(crate) fn live_updates(&self, source: &str) -> Counter {
        self.live_update_count
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .clone()
    }

    pub(crate) fn ws_clients(&self, channel: &str) -> Gauge {
        self.ws_clients
            .get_or_create(&ChannelLabel {
                channel: channel.to_owned(),
            })
            .clone()
    }

    pub(crate) fn ws_closed(&self, reason: &str) {
        self.ws_closed
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::error!("metrics_encode_failed error={e}");
        }
        out
    }
}
