//! Notifications: the `[notify]` section, the messages, and the rules that decide when
//! one is sent (cooldown per target and reason, a digest for low severities, retries
//! with backoff). Delivery (SMTP, Telegram, webhook) is in `suriguardctl`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Error;
use crate::incident::Incident;
use crate::mitigate::Advice;
use crate::secret::SecretRef;

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NotifyConfig {
    /// Severity ≤ this: one message per incident, at once.
    pub immediate_severity: u8,
    /// Severity ≤ this (and above `immediate-severity`): batched into a digest.
    /// Anything less severe is not notified.
    pub digest_severity: u8,
    /// Seconds during which another incident with the same target and reason sends
    /// nothing (it is recorded as suppressed).
    pub cooldown: u64,
    /// A digest goes out once its oldest entry is this many seconds old.
    pub digest_interval: u64,
    /// Retries: the n-th failed attempt waits `retry-base × 2^(n-1)` seconds (capped at
    /// an hour) before the next; after `max-attempts` the message is kept as dead.
    pub retry_base: u64,
    pub max_attempts: u32,
    /// Put the mitigation steps into messages.
    pub include_mitigation: bool,
    pub email: Option<EmailConfig>,
    pub telegram: Option<TelegramConfig>,
    pub webhook: Option<WebhookConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            immediate_severity: 2,
            digest_severity: 3,
            cooldown: 3600,
            digest_interval: 3600,
            retry_base: 30,
            max_attempts: 8,
            include_mitigation: true,
            email: None,
            telegram: None,
            webhook: None,
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS (a relay on loopback only).
    None,
}

/// `[notify.email]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EmailConfig {
    pub server: String,
    pub port: Option<u16>,
    #[serde(default = "starttls")]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    /// `suriguard <ids@example.org>`.
    pub from: String,
    pub to: Vec<String>,
    /// A CA certificate (PEM) to trust for the server's certificate.
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout: f64,
}

fn starttls() -> SmtpSecurity {
    SmtpSecurity::Starttls
}

fn default_timeout() -> f64 {
    15.0
}

fn telegram_base() -> String {
    "https://api.telegram.org".into()
}

/// `[notify.telegram]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TelegramConfig {
    #[serde(default = "telegram_base")]
    pub base_url: String,
    pub token: SecretRef,
    pub chat_id: String,
    #[serde(default = "default_timeout")]
    pub timeout: f64,
}

/// `[notify.webhook]`: the message as JSON, POSTed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<SecretRef>,
    #[serde(default = "default_timeout")]
    pub timeout: f64,
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }
}

impl suriguard_config::Section for NotifyConfig {
    const NAME: &'static str = "notify";

    fn validate(&self) -> Result<(), String> {
        NotifyConfig::validate(self).map_err(|e| e.to_string())
    }
}

impl NotifyConfig {
    /// Checks the settings; the error names the table and the key.
    pub fn validate(&self) -> Result<(), Error> {
        if self.digest_severity < self.immediate_severity {
            return Err(Error::invalid(
                "notify",
                "digest-severity must be ≥ immediate-severity",
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("notify", "max-attempts must be at least 1"));
        }
        if let Some(e) = &self.email {
            if e.to.is_empty() {
                return Err(Error::invalid(
                    "notify.email",
                    "to must list at least one recipient",
                ));
            }
            if e.password.is_some() && e.username.is_none() {
                return Err(Error::invalid("notify.email", "password without username"));
            }
            if e.password.is_some() && e.security == SmtpSecurity::None {
                return Err(Error::invalid(
                    "notify.email",
                    "refusing to send a password without TLS (security = \"none\")",
                ));
            }
        }
        if let Some(t) = &self.telegram {
            if t.chat_id.trim().is_empty() {
                return Err(Error::invalid("notify.telegram", "chat-id is empty"));
            }
        }
        Ok(())
    }

    /// The configured channels, by name.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.email.is_some() {
            c.push("email");
        }
        if self.telegram.is_some() {
            c.push("telegram");
        }
        if self.webhook.is_some() {
            c.push("webhook");
        }
        c
    }

    /// How an incident of this severity is notified.
    pub fn route(&self, severity: u8) -> Route {
        if severity <= self.immediate_severity {
            Route::Immediate
        } else if severity <= self.digest_severity {
            Route::Digest
        } else {
            Route::Ignore
        }
    }

    /// Seconds to wait after the `attempts`-th failure.
    pub fn backoff(&self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(20);
        self.retry_base.saturating_mul(1u64 << exp).min(3600)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Immediate,
    Digest,
    Ignore,
}

/// What the operator is told and the key cooldown applies to.
pub fn cooldown_key(inc: &Incident) -> String {
    format!("{}|{}", inc.subject_ip().unwrap_or("-"), inc.reason_key())
}

/// A message, ready for any channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The webhook's body.
    pub json: Value,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn facts(inc: &Incident) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("When", inc.time.clone()),
        ("Severity", format!("{} (1 = most severe)", inc.severity)),
    ];
    let mut add = |k, v: Option<String>| {
        if let Some(v) = v {
            f.push((k, v));
        }
    };
    add(
        "Source",
        inc.src_ip.as_ref().map(|ip| match inc.src_port {
            Some(p) => format!("{ip} port {p}"),
            None => ip.clone(),
        }),
    );
    add(
        "Destination",
        inc.dest_ip.as_ref().map(|ip| match inc.dest_port {
            Some(p) => format!("{ip} port {p}"),
            None => ip.clone(),
        }),
    );
    add("Protocol", inc.proto.clone());
    add(
        "Signature",
        inc.signature_id
            .map(|sid| format!("{sid}: {}", inc.signature)),
    );
    add("Category", inc.category.clone());
    add("HTTP host", inc.http_host.clone());
    add("Decision", inc.summary.clone());
    add("Evidence", inc.detail.clone());
    add("Threat-intel set", inc.intel_set.clone());
    add(
        "Reference",
        Some(format!("{} {}", inc.origin.as_str(), inc.key)),
    );
    f
}

/// The message for one incident.
pub fn render(inc: &Incident, advice: Option<&Advice>) -> Message {
    let what = advice
        .map(|a| a.title.clone())
        .unwrap_or_else(|| inc.signature.clone());
    let subject = format!(
        "[suriguard] {what}: {} ({})",
        inc.subject_ip().unwrap_or("unknown"),
        inc.reason_key()
    );
    let facts = facts(inc);
    let mut text = format!("{what}\n\n");
    for (k, v) in &facts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    let mut html = format!("<h2>{}</h2>\n<table>\n", esc(&what));
    for (k, v) in &facts {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            esc(k),
            esc(v)
        ));
    }
    html.push_str("</table>\n");
    if let Some(a) = advice {
        text.push_str(&format!("\nWhat to do ({}):\n", a.source));
        html.push_str(&format!(
            "<h3>What to do</h3>\n<p><small>from {}</small></p>\n<ol>\n",
            esc(&a.source)
        ));
        for (i, s) in a.steps.iter().enumerate() {
            text.push_str(&format!("{}. {s}\n", i + 1));
            html.push_str(&format!("<li>{}</li>\n", esc(s)));
        }
        html.push_str("</ol>\n");
    }
    text.push_str(&format!("\nMore: suriguardctl mitigate {}\n", inc.key));
    let json = json!({
        "type": "incident",
        "subject": subject,
        "incident": {
            "origin": inc.origin, "key": inc.key, "time": inc.time, "severity": inc.severity,
            "src_ip": inc.src_ip, "src_port": inc.src_port, "dest_ip": inc.dest_ip,
            "dest_port": inc.dest_port, "proto": inc.proto, "signature_id": inc.signature_id,
            "signature": inc.signature, "category": inc.category, "summary": inc.summary,
        },
        "mitigation": advice.map(|a| json!({"class": a.class, "source": a.source, "steps": a.steps})),
    });
    Message {
        subject,
        text,
        html,
        json,
    }
}

/// One message for a batch of low-severity incidents.
pub fn render_digest(items: &[Incident]) -> Message {
    let subject = format!(
        "[suriguard] digest: {} low-severity incident(s)",
        items.len()
    );
    let mut text = format!(
        "{} incident(s) below the immediate-notification severity:\n\n",
        items.len()
    );
    let mut html = format!("<h2>{}</h2>\n<ul>\n", esc(&subject));
    for i in items {
        let line = format!(
            "{} severity {} {} from {}{}",
            i.time,
            i.severity,
            i.signature,
            i.subject_ip().unwrap_or("?"),
            i.dest_ip
                .as_ref()
                .map(|d| format!(" to {d}"))
                .unwrap_or_default()
        );
        text.push_str(&format!("- {line}\n"));
        html.push_str(&format!("<li>{}</li>\n", esc(&line)));
    }
    html.push_str("</ul>\n");
    text.push_str("\nDetails: suriguardctl alerts list\n");
    let json = json!({
        "type": "digest",
        "subject": subject,
        "incidents": items.iter().map(|i| json!({
            "key": i.key, "time": i.time, "severity": i.severity, "signature": i.signature,
            "src_ip": i.src_ip, "dest_ip": i.dest_ip,
        })).collect::<Vec<_>>(),
    });
    Message {
        subject,
        text,
        html,
        json,
    }
}

/// The message `suriguardctl notify test` sends.
pub fn render_test(host: &str) -> Message {
    let subject = format!("[suriguard] test message from {host}");
    let text = format!(
        "This is a test message from suriguard on {host}. If you read it, this channel works.\n"
    );
    Message {
        html: format!("<p>{}</p>\n", esc(&text)),
        json: json!({"type": "test", "subject": subject, "host": host}),
        subject,
        text,
    }
}

/// Telegram's text: the plain-text body, cut to the API's 4096-character limit.
pub fn telegram_text(m: &Message) -> String {
    let full = format!("{}\n\n{}", m.subject, m.text);
    if full.chars().count() <= 4096 {
        return full;
    }
    let mut s: String = full.chars().take(4090).collect();
    s.push_str("\n[…]");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::from_line;

    const A: &str = r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":5555,"dest_ip":"192.168.1.30","dest_port":23,"proto":"TCP","alert":{"signature_id":7,"signature":"<script> telnet","severity":1}}"#;

    #[test]
    fn routes_and_backoff() {
        let c = NotifyConfig::default();
        assert_eq!(c.route(1), Route::Immediate);
        assert_eq!(c.route(2), Route::Immediate);
        assert_eq!(c.route(3), Route::Digest);
        assert_eq!(c.route(4), Route::Ignore);
        assert_eq!(c.backoff(1), 30);
        assert_eq!(c.backoff(2), 60);
        assert_eq!(c.backoff(3), 120);
        assert_eq!(c.backoff(30), 3600);
    }

    #[test]
    fn html_is_escaped_and_text_complete() {
        let inc = from_line(A).unwrap().unwrap();
        let m = render(&inc, None);
        assert!(m.html.contains("&lt;script&gt;") && !m.html.contains("<script>"));
        assert!(m.text.contains("Source: 203.0.113.9 port 5555"));
        assert!(m.subject.contains("203.0.113.9") && m.subject.contains("sid:7"));
        let long = Message {
            subject: "s".into(),
            text: "x".repeat(10_000),
            html: String::new(),
            json: Value::Null,
        };
        assert!(telegram_text(&long).chars().count() <= 4096);
    }

    #[test]
    fn passwords_need_tls() {
        let c: NotifyConfig = toml::from_str(
            "[email]\nserver = \"m\"\nsecurity = \"none\"\nusername = \"u\"\npassword = { env = \"P\" }\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
        )
        .unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("without TLS"));
    }
}
