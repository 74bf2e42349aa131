//! Prometheus metrics: what the engine and webhooks did, exported at `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label: what happened to a submission.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// accepted, rejected, retryable, ambiguous, config.
    pub outcome: String,
}

/// Label: a status reported by a callback.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// Twilio's MessageStatus.
    pub status: String,
}

/// Label: a sending number.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NumberLabel {
    /// E.164.
    pub number: String,
}

/// Every metric Herald exports, registered once per process (tests build their own).
pub struct Metrics {
    registry: Registry,
    /// Provider calls by outcome.
    pub submissions: Family<OutcomeLabel, Counter>,
    /// Status callbacks by status.
    pub callbacks: Family<StatusLabel, Counter>,
    /// How late the last message of each number left compared with its pacing slot.
    pub pacing_lag_seconds: Family<NumberLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Latency of Twilio's create call.
    pub provider_latency_seconds: Histogram,
    /// Recipients waiting to be sent in running campaigns.
    pub queue_depth: Gauge,
    /// Recipients whose in-flight outcome is being reconciled.
    pub reconciling: Gauge,
    /// Sending numbers whose lease this node holds (it paces them).
    pub leases_held: Gauge,
    /// Live nodes sharing the database, this one included.
    pub nodes: Gauge,
    /// Status polls: fetches of a message's status from Twilio (its callback never came).
    pub status_polls: Counter,
    /// Recipients whose status a poll moved (a final status whose callback was lost).
    pub status_poll_changes: Counter,
    /// Status polls that failed (Twilio answered an error or could not be reached); they are
    /// asked again later.
    pub status_poll_errors: Counter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("herald");
        let submissions = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "submissions",
            "Twilio create calls by outcome",
            submissions.clone(),
        );
        let callbacks = Family::<StatusLabel, Counter>::default();
        registry.register(
            "callbacks",
            "Status callbacks received by status",
            callbacks.clone(),
        );
        let pacing_lag_seconds = Family::default();
        registry.register(
            "pacing_lag_seconds",
            "How late the latest message of a number left after its pacing slot",
            pacing_lag_seconds.clone(),
        );
        let provider_latency_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "provider_latency_seconds",
            "Latency of Twilio's create call",
            provider_latency_seconds.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Recipients waiting to be sent in running campaigns",
            queue_depth.clone(),
        );
        let reconciling = Gauge::default();
        registry.register(
            "reconciling",
            "Recipients whose in-flight outcome is being reconciled",
            reconciling.clone(),
        );
        let leases_held = Gauge::default();
        registry.register(
            "leases_held",
            "Sending numbers whose lease this node holds",
            leases_held.clone(),
        );
        let nodes = Gauge::default();
        registry.register(
            "nodes",
            "Live nodes sharing the database, this one included",
            nodes.clone(),
        );
        let status_polls = Counter::default();
        registry.register(
            "status_polls",
            "Status polls: fetches of a message whose final status callback never came",
            status_polls.clone(),
        );
        let status_poll_changes = Counter::default();
        registry.register(
            "status_poll_changes",
            "Recipients whose status a status poll moved",
            status_poll_changes.clone(),
        );
        let status_poll_errors = Counter::default();
        registry.register(
            "status_poll_errors",
            "Status polls that failed (asked again later)",
            status_poll_errors.clone(),
        );
        Arc::new(Self {
            registry,
            submissions,
            callbacks,
            pacing_lag_seconds,
            provider_latency_seconds,
            queue_depth,
            reconciling,
            leases_held,
            nodes,
            status_polls,
            status_poll_changes,
            status_poll_errors,
        })
    }

    /// Counts one provider call.
    pub fn submission(&self, outcome: &str) {
        self.submissions
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one callback.
    pub fn callback(&self, status: &str) {
        self.callbacks
            .get_or_create(&StatusLabel {
                status: status.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
