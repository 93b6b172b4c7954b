//! Notifications: planned when an incident is stored (cooldown and digest decided
//! then), delivered by `notify send` / `run` through email (lettre), Telegram and a
//! JSON webhook. Every message is a row of the `outbox` table: sent, suppressed by the
//! cooldown, waiting for a retry (with its error and next attempt time) or dead after
//! `max-attempts`. Nothing is dropped without a row saying so.

use std::collections::HashMap;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;
use suriguard_net::NetworkModel;
use suriguard_report::incident::Incident;
use suriguard_report::mitigate::MitigateConfig;
use suriguard_report::notify::{
    self, EmailConfig, Message, NotifyConfig, Route, SmtpSecurity, TelegramConfig, WebhookConfig,
};
use suriguard_report::secret::scrub_opt;

use crate::error::CtlError;
use crate::store::Store;
use crate::{advice, http};

/// Decides, for a new incident, what each channel gets.
pub fn plan(store: &Store, cfg: &NotifyConfig, inc: &Incident, now: i64) -> Result<(), CtlError> {
    let key = notify::cooldown_key(inc);
    let route = cfg.route(inc.severity);
    for channel in cfg.channels() {
        match route {
            Route::Ignore => {}
            Route::Immediate => {
                let since = now - cfg.cooldown as i64 * 1_000_000;
                let recent: bool = store
                    .db
                    .query_row(
                        "SELECT 1 FROM outbox WHERE channel = ?1 AND cooldown_key = ?2 AND kind = 'incident'
                         AND state != 'suppressed' AND created_us >= ?3 LIMIT 1",
                        params![channel, key, since],
                        |_| Ok(true),
                    )
                    .optional()
                    .map_err(store.failed("planning notifications"))?
                    .unwrap_or(false);
                let state = if recent { "suppressed" } else { "pending" };
                store
                    .db
                    .execute(
                        "INSERT INTO outbox(channel, kind, cooldown_key, incident_key, state, created_us)
                         VALUES (?1, 'incident', ?2, ?3, ?4, ?5)",
                        params![channel, key, inc.key, state, now],
                    )
                    .map_err(store.failed("planning notifications"))?;
            }
            Route::Digest => {
                store
                    .db
                    .execute(
                        "INSERT INTO digest_queue(channel, incident_key, created_us) VALUES (?1, ?2, ?3)",
                        params![channel, inc.key, now],
                    )
                    .map_err(store.failed("planning notifications"))?;
            }
        }
    }
    Ok(())
}

/// What a delivery run did.
#[derive(Debug, Default, Serialize)]
pub struct SendReport {
    pub digests_built: usize,
    pub sent: usize,
    pub failed: usize,
    pub dead: usize,
    /// Waiting for their next attempt time.
    pub waiting: usize,
    pub errors: Vec<String>,
}

/// An outbox row waiting: id, channel, next try, incident key, rendered message, attempts.
type Due = (i64, String, i64, Option<String>, Option<String>, i64);

/// Sends what is due. `flush` sends digests now, whatever their age.
pub fn deliver(
    store: &Store,
    cfg: &NotifyConfig,
    mcfg: &MitigateConfig,
    net: &NetworkModel,
    now: i64,
    flush: bool,
) -> Result<SendReport, CtlError> {
    let mut rep = SendReport::default();
    build_digests(store, cfg, now, flush, &mut rep)?;
    let due: Vec<Due> = {
        let mut st = store
            .db
            .prepare(
                "SELECT id, channel, next_try_us, incident_key, message, attempts FROM outbox
                 WHERE state IN ('pending', 'retry') ORDER BY id",
            )
            .map_err(store.failed("reading the outbox"))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(store.failed("reading the outbox"))?;
        rows.collect::<Result<_, _>>()
            .map_err(store.failed("reading the outbox"))?
    };
    let mut rendered: HashMap<String, Message> = HashMap::new();
    for (id, channel, next, incident_key, message, attempts) in due {
        if next > now {
            rep.waiting += 1;
            continue;
        }
        let msg = match message.and_then(|m| serde_json::from_str::<Message>(&m).ok()) {
            Some(m) => m,
            None => {
                let key = incident_key.unwrap_or_default();
                if let Some(m) = rendered.get(&key) {
                    m.clone()
                } else {
                    let Some(row) = store.get(&key)? else {
                        // The incident was pruned before its message went out.
                        mark(
                            store,
                            id,
                            "dead",
                            attempts,
                            Some("incident no longer in the store"),
                            now,
                            cfg,
                        )?;
                        rep.dead += 1;
                        continue;
                    };
                    let adv = cfg
                        .include_mitigation
                        .then(|| advice::advise(mcfg, net, &row.incident, false));
                    let m = notify::render(&row.incident, adv.as_ref());
                    rendered.insert(key, m.clone());
                    m
                }
            }
        };
        let json = serde_json::to_string(&msg).map_err(CtlError::encode("a notification"))?;
        store
            .db
            .execute(
                "UPDATE outbox SET message = ?2, subject = ?3 WHERE id = ?1",
                params![id, json, msg.subject],
            )
            .map_err(store.failed("saving a rendered notification"))?;
        match send(cfg, &channel, &msg) {
            Ok(()) => {
                mark(store, id, "sent", attempts, None, now, cfg)?;
                rep.sent += 1;
            }
            Err(e) => {
                let e = suriguard_cli::chain(&e);
                let attempts = attempts + 1;
                let state = if attempts >= cfg.max_attempts as i64 {
                    "dead"
                } else {
                    "retry"
                };
                mark(store, id, state, attempts, Some(&e), now, cfg)?;
                tracing::warn!("notify {channel}: {e} (attempt {attempts}, {state})");
                rep.errors.push(format!("{channel}: {e}"));
                if state == "dead" {
                    rep.dead += 1;
                } else {
                    rep.failed += 1;
                }
            }
        }
    }
    Ok(rep)
}

fn mark(
    store: &Store,
    id: i64,
    state: &str,
    attempts: i64,
    error: Option<&str>,
    now: i64,
    cfg: &NotifyConfig,
) -> Result<(), CtlError> {
    let next = now + cfg.backoff(attempts.max(1) as u32) as i64 * 1_000_000;
    store
        .db
        .execute(
            "UPDATE outbox SET state = ?2, attempts = ?3, last_error = ?4, next_try_us = ?5,
             sent_us = CASE WHEN ?2 = 'sent' THEN ?6 ELSE sent_us END WHERE id = ?1",
            params![id, state, attempts, error, next, now],
        )
        .map(drop)
        .map_err(store.failed("recording a delivery"))
}

fn build_digests(
    store: &Store,
    cfg: &NotifyConfig,
    now: i64,
    flush: bool,
    rep: &mut SendReport,
) -> Result<(), CtlError> {
    for channel in cfg.channels() {
        let oldest: Option<i64> = store
            .db
            .query_row(
                "SELECT min(created_us) FROM digest_queue WHERE channel = ?1 AND outbox_id IS NULL",
                params![channel],
                |r| r.get(0),
            )
            .map_err(store.failed("reading the digest queue"))?;
        let Some(oldest) = oldest else { continue };
        if !flush && now - oldest < cfg.digest_interval as i64 * 1_000_000 {
            continue;
        }
        let keys: Vec<(i64, String)> = {
            let mut st = store
                .db
                .prepare("SELECT id, incident_key FROM digest_queue WHERE channel = ?1 AND outbox_id IS NULL ORDER BY id")
                .map_err(store.failed("reading the digest queue"))?;
            let rows = st
                .query_map(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(store.failed("reading the digest queue"))?;
            rows.collect::<Result<_, _>>()
                .map_err(store.failed("reading the digest queue"))?
        };
        let mut items = Vec::new();
        for (_, k) in &keys {
            if let Some(row) = store.get(k)? {
                items.push(row.incident);
            }
        }
        // Same target and reason more than once: listed once.
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| seen.insert(notify::cooldown_key(i)));
        let msg = notify::render_digest(&items);
        let json = serde_json::to_string(&msg).map_err(CtlError::encode("a digest"))?;
        store
            .db
            .execute(
                "INSERT INTO outbox(channel, kind, subject, message, state, created_us) VALUES (?1, 'digest', ?2, ?3, 'pending', ?4)",
                params![channel, msg.subject, json, now],
            )
            .map_err(store.failed("queueing a digest"))?;
        let outbox_id = store.db.last_insert_rowid();
        for (qid, _) in keys {
            store
                .db
                .execute(
                    "UPDATE digest_queue SET outbox_id = ?2 WHERE id = ?1",
                    params![qid, outbox_id],
                )
                .map_err(store.failed("linking the digest queue"))?;
        }
        rep.digests_built += 1;
    }
    Ok(())
}

/// Sends one message through one channel.
pub fn send(cfg: &NotifyConfig, channel: &str, msg: &Message) -> Result<(), CtlError> {
    let unset = || CtlError::ChannelUnset {
        channel: channel.to_owned(),
    };
    match channel {
        "email" => send_email(cfg.email.as_ref().ok_or_else(unset)?, msg),
        "telegram" => send_telegram(cfg.telegram.as_ref().ok_or_else(unset)?, msg),
        "webhook" => send_webhook(cfg.webhook.as_ref().ok_or_else(unset)?, msg),
        _ => Err(unset()),
    }
}

fn mailbox(s: &str) -> Result<Mailbox, CtlError> {
    s.parse::<Mailbox>()
        .map_err(|source| CtlError::MailAddress {
            address: s.to_owned(),
            source,
        })
}

fn send_email(e: &EmailConfig, msg: &Message) -> Result<(), CtlError> {
    let mut b = lettre::Message::builder()
        .from(mailbox(&e.from)?)
        .subject(msg.subject.clone());
    for to in &e.to {
        b = b.to(mailbox(to)?);
    }
    let mail = b
        .multipart(MultiPart::alternative_plain_html(
            msg.text.clone(),
            msg.html.clone(),
        ))
        .map_err(|source| CtlError::MailBuild { source })?;
    let tls = || -> Result<TlsParameters, CtlError> {
        let mut p = TlsParameters::builder(e.server.clone());
        if let Some(ca) = &e.ca_file {
            let pem = std::fs::read(ca).map_err(CtlError::file("read the CA file", ca))?;
            let cert = Certificate::from_pem(&pem).map_err(|err| CtlError::CaPem {
                path: ca.clone(),
                source: err.into(),
            })?;
            p = p.add_root_certificate(cert);
        }
        p.build_rustls().map_err(|source| CtlError::SmtpTls {
            server: e.server.clone(),
            source,
        })
    };
    let mut t = SmtpTransport::builder_dangerous(e.server.as_str())
        .port(e.port())
        .timeout(Some(Duration::from_secs_f64(e.timeout)));
    t = match e.security {
        SmtpSecurity::Starttls => t.tls(Tls::Required(tls()?)),
        SmtpSecurity::Tls => t.tls(Tls::Wrapper(tls()?)),
        SmtpSecurity::None => t.tls(Tls::None),
    };
    let mut password = None;
    if let (Some(user), Some(pass)) = (&e.username, &e.password) {
        let p = pass.resolve()?;
        t = t.credentials(Credentials::new(user.clone(), p.expose().to_string()));
        password = Some(p);
    }
    t.build()
        .send(&mail)
        .map(drop)
        .map_err(|err| CtlError::Remote {
            service: format!("SMTP {}:{}", e.server, e.port()),
            message: scrub_opt(password.as_ref(), suriguard_cli::chain(&err)),
        })
}

fn send_telegram(t: &TelegramConfig, msg: &Message) -> Result<(), CtlError> {
    let token = t.token.resolve()?;
    let client = http::client(t.timeout, None)?;
    let url = format!(
        "{}/bot{}/sendMessage",
        t.base_url.trim_end_matches('/'),
        token.expose()
    );
    let body = json!({
        "chat_id": t.chat_id,
        "text": notify::telegram_text(msg),
        "disable_web_page_preview": true,
    });
    let telegram = |message: String| CtlError::Remote {
        service: "Telegram".into(),
        message: token.scrub(&message),
    };
    let answer = http::send_json(client.post(url).json(&body))
        .map_err(|f| telegram(suriguard_cli::chain(&f)))?;
    if answer["ok"].as_bool() != Some(true) {
        return Err(telegram(format!(
            "not ok: {}",
            answer["description"].as_str().unwrap_or("no description")
        )));
    }
    Ok(())
}

fn send_webhook(w: &WebhookConfig, msg: &Message) -> Result<(), CtlError> {
    let client = http::client(w.timeout, None)?;
    let mut req = client.post(&w.url).json(&msg.json);
    let token = match &w.token {
        Some(t) => Some(t.resolve()?),
        None => None,
    };
    if let Some(t) = &token {
        req = req.bearer_auth(t.expose());
    }
    http::send_json(req)
        .map(drop)
        .map_err(|f| CtlError::Remote {
            service: "webhook".into(),
            message: scrub_opt(token.as_ref(), suriguard_cli::chain(&f)),
        })
}

/// One row of `notify list`.
#[derive(Debug, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub subject: Option<String>,
    pub incident: Option<String>,
    pub created: String,
    pub last_error: Option<String>,
}

pub fn list(store: &Store) -> Result<Vec<OutboxRow>, CtlError> {
    let mut st = store
        .db
        .prepare(
            "SELECT id, channel, kind, state, attempts, subject, incident_key, created_us, last_error
             FROM outbox ORDER BY id",
        )
        .map_err(store.failed("listing notifications"))?;
    let rows = st
        .query_map([], |r| {
            Ok(OutboxRow {
                id: r.get(0)?,
                channel: r.get(1)?,
                kind: r.get(2)?,
                state: r.get(3)?,
                attempts: r.get(4)?,
                subject: r.get(5)?,
                incident: r.get(6)?,
                created: suriguard_decision::rfc3339(suriguard_eve::EveTime(r.get(7)?)),
                last_error: r.get(8)?,
            })
        })
        .map_err(store.failed("listing notifications"))?;
    rows.collect::<Result<_, _>>()
        .map_err(store.failed("listing notifications"))
}
