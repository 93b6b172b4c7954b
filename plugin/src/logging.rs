//! One logging mechanism for the whole plugin: `tracing` events, forwarded to Suricata's
//! logger by [`SuricataLayer`], so the plugin's lines land in suricata.log with the level,
//! file and line of the call site, filtered by Suricata's own `logging` settings.
//!
//! `tracing::info!` becomes a Suricata *notice* (the level Suricata shows by default),
//! `warn!` a warning, `error!` an error, `debug!` Suricata's debug. The libraries the
//! plugin links log through `tracing` too; `rulesync` and `suriguardctl` install a
//! terminal/journal formatter instead of this layer.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::host;

/// Forwards every event to `SCLogMessage`.
pub struct SuricataLayer;

/// Collects an event's message and its other fields as `key=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for SuricataLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => host::ERROR,
            Level::WARN => host::WARNING,
            Level::INFO => host::NOTICE,
            Level::DEBUG => host::INFO,
            Level::TRACE => host::DEBUG,
        };
        let mut line = Line::default();
        event.record(&mut line);
        line.message.push_str(&line.fields);
        host::log(
            level,
            meta.file().unwrap_or("suriguard"),
            meta.line().unwrap_or(0),
            &line.message,
        );
    }
}

/// Makes [`SuricataLayer`] the process's `tracing` subscriber, once. Another subscriber
/// already installed (Suricata has none; a test host might) is left in place.
pub fn install() {
    let _ = tracing_subscriber::registry()
        .with(SuricataLayer)
        .try_init();
}
