//! `suriguardctl serve`: the local web console and `/metrics`.
//!
//! Server-rendered pages over the same files the other commands read (the decisions and
//! enforcement journals, the plugin's stats file, rulesync's state, the store): no second
//! source of truth, nothing cached but the last records counter (for a rate). Every
//! dynamic value goes through [`esc`]; pages load nothing from anywhere (styles inline,
//! charts inline SVG drawn here) and a Content-Security-Policy forbids scripts.
//!
//! Access: a session cookie from `/login` (the `[console]` password hashes, login
//! attempts rate-limited), or `Authorization: Bearer` with `[console] token` for
//! scripts. Every POST from a session must carry that session's CSRF token; a viewer
//! session changes nothing. `/metrics` answers loopback clients, or others with the
//! token. State changes are journaled with who made them (`admin@ADDR`, `token@ADDR`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use suriguard_decision::{Decision, DecisionLog};
use suriguard_guard::PluginStats;
use suriguard_net::Cidr;
use suriguard_report::console::{same_secret, FailureLimiter, Session, Sessions};
use suriguard_report::device::{check_form, verify, DeviceAlert, Refusal, Signed};
use suriguard_report::metrics::CONTENT_TYPE;

mod allow;

use crate::config::Config;
use crate::decisions;
use crate::error::CtlError;
use crate::html::{bar_chart, esc, url_part, STYLE};
use crate::metrics::{self, MetricSources};

const COOKIE: &str = "sg_session";

/// Password checks that may run at once.
const ARGON2_SLOTS: usize = 2;

/// Device requests without a valid signature allowed per client address, and overall,
/// within five minutes; beyond, 429 before any lookup.
const DEVICE_FAILURES_PER_CLIENT: u32 = 20;
const DEVICE_FAILURES_OVERALL: u32 = 200;

/// The server's state.
pub struct App {
    cfg: Config,
    sources: MetricSources,
    sessions: Mutex<Sessions>,
    limiter: Mutex<FailureLimiter>,
    /// Password checks running at once (Argon2 takes about 19 MiB each): beyond, 503.
    argon2_slots: tokio::sync::Semaphore,
    /// Device requests that failed before a valid signature, per client and overall.
    device_failures: Mutex<FailureLimiter>,
    /// One connection to the store for the device API (opened on first use).
    store: Mutex<Option<crate::store::Store>>,
    token: Option<String>,
    /// The last (time, records received) seen, for records/s.
    last_records: Mutex<Option<(Instant, u64)>>,
    /// Device alert requests by outcome (`accepted` or a refusal), for /metrics.
    device_outcomes: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests per device in the current minute: (minute, count).
    device_rate: Mutex<std::collections::HashMap<String, (i64, u32)>>,
    /// Cooldown and caps for decisions devices ask for (the plugin's gate is in another
    /// process; this one applies the same `[decisions]` settings to these).
    device_gate: Mutex<suriguard_decision::Gate>,
}

/// The client's address (the connection's peer).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// Who is asking.
#[derive(Debug, Clone)]
enum Who {
    Session(String, Session),
    Token,
    Nobody,
}

impl App {
    pub fn new(cfg: Config, sources: MetricSources) -> Result<App, CtlError> {
        let token = match cfg.console.token() {
            None => None,
            Some(Ok(t)) => Some(t.expose().to_owned()),
            Some(Err(e)) => return Err(e.into()),
        };
        let lifetime = Duration::from_secs_f64(cfg.console.session_hours * 3600.0);
        // The device gate's cooldown and max-active count with the device blocks' ttl.
        let cfg_decisions = suriguard_decision::DecisionConfig {
            ttl: cfg.console.device_decision_ttl,
            ..cfg.decisions.clone()
        };
        Ok(App {
            cfg,
            sources,
            sessions: Mutex::new(Sessions::new(lifetime)),
            limiter: Mutex::new(FailureLimiter::logins()),
            argon2_slots: tokio::sync::Semaphore::new(ARGON2_SLOTS),
            device_failures: Mutex::new(FailureLimiter::new(
                DEVICE_FAILURES_PER_CLIENT,
                DEVICE_FAILURES_OVERALL,
                Duration::from_secs(300),
            )),
            store: Mutex::new(None),
            token,
            last_records: Mutex::new(None),
            device_outcomes: Mutex::new(BTreeMap::new()),
            device_rate: Mutex::new(std::collections::HashMap::new()),
            device_gate: Mutex::new(suriguard_decision::Gate::new(cfg_decisions)),
        })
    }

    fn who(&self, headers: &HeaderMap) -> Who {
        if let (Some(want), Some(auth)) = (
            &self.token,
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ) {
            if let Some(got) = auth.strip_prefix("Bearer ") {
                if same_secret(got.trim(), want) {
                    return Who::Token;
                }
            }
        }
        let Some(id) = cookie(headers, COOKIE) else {
            return Who::Nobody;
        };
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&id, Instant::now()) {
            Some(s) => Who::Session(id, s.clone()),
            None => Who::Nobody,
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/decisions", get(decisions_page))
        .route("/alerts", get(alerts_page))
        .route("/alerts/{id}", get(alert_page))
        .route("/devices", get(devices_page))
        .route("/devices/{addr}", get(device_page))
        .route("/devices/quarantine", post(quarantine))
        .route("/devices/release", post(release))
        .route("/decisions/{id}", get(explain_page))
        .route("/decisions/unblock", post(unblock))
        .route("/decisions/extend", post(extend))
        .route("/allowlist", get(allow::page))
        .route("/allowlist/confirm", get(allow::confirm))
        .route("/allowlist/add", post(allow::add))
        .route("/allowlist/delete", post(allow::delete))
        .route("/metrics", get(metrics_page))
        .route("/api/v1/device-alerts", post(device_alert))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(app)
}

/// Runs the server until SIGINT/SIGTERM, over TLS when `[console]` names a certificate.
pub fn run(app: App, listen: SocketAddr) -> Result<(), CtlError> {
    let tls = match (&app.cfg.console.tls_cert, &app.cfg.console.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    if !listen.ip().is_loopback() && tls.is_none() {
        tracing::warn!(
            "listening on {listen} without TLS: passwords and session cookies cross the network in clear; set [console] tls-cert and tls-key"
        );
    }
    if app.cfg.console.password_hash.is_none() && app.token.is_none() {
        tracing::warn!(
            "[console] has neither password-hash nor token: nobody can log in (suriguardctl serve passwd)"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CtlError::Serve {
            what: "start the async runtime".into(),
            source,
        })?;
    rt.block_on(async move {
        let tcp = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| CtlError::Serve {
                what: format!("listen on {listen}"),
                source,
            })?;
        let bound = tcp.local_addr().unwrap_or(listen);
        let router = router(Arc::new(app));
        let served = match tls {
            None => {
                tracing::info!("console on http://{bound}");
                axum::serve(tcp, router.into_make_service_with_connect_info::<Peer>())
                    .with_graceful_shutdown(shutdown())
                    .await
            }
            Some(acceptor) => {
                tracing::info!("console on https://{bound}");
                axum::serve(
                    TlsListener::new(tcp, acceptor),
                    router.into_make_service_with_connect_info::<Peer>(),
                )
                .with_graceful_shutdown(shutdown())
                .await
            }
        };
        served.map_err(|source| CtlError::Serve {
            what: format!("serve on {bound}"),
            source,
        })
    })
}

/// The TLS settings from PEM files: a certificate chain and its private key.
fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, CtlError> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, message: String| CtlError::Tls {
        path: path.to_owned(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| bad(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Seconds a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts TCP connections and hands over those whose TLS handshake succeeded. The
/// handshakes run concurrently, each bounded by [`HANDSHAKE_TIMEOUT`], so a slow client
/// holds up nobody else.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    fn new(tcp: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        let local = tcp
            .local_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!("console: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!("console: TLS handshake with {peer} failed: {e}")
                        }
                        Err(_) => tracing::debug!("console: TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept loop never ends on its own.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

/// Runs blocking work (files, SQLite, nft) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("console handler panicked")
}

/// Headers every page gets.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn layout(title: &str, who: &Who, body: &str) -> String {
    let mut nav = String::new();
    if let Who::Session(_, s) = who {
        let _ = write!(
            nav,
            r#"<a href="/">Overview</a><a href="/devices">Devices</a><a href="/decisions">Decisions</a><a href="/alerts">Alerts</a><a href="/allowlist">Allowlist</a><span>{}</span><form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><button>Log out</button></form>"#,
            esc(&s.who),
            esc(&s.csrf)
        );
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{} · suriguard</title><style>{STYLE}</style></head><body><header><strong>suriguard</strong>{nav}</header><main><h1>{}</h1>{body}</main></body></html>"#,
        esc(title),
        esc(title)
    )
}

/// The CSRF token for a page's forms and whether the caller may change state; `None`
/// when nobody is logged in.
fn rights(who: &Who) -> Option<(String, bool)> {
    match who {
        Who::Nobody => None,
        Who::Session(_, s) => Some((s.csrf.clone(), s.role.may_change())),
        Who::Token => Some((String::new(), true)),
    }
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

fn refused(status: StatusCode, why: &str) -> Response {
    html(
        status,
        layout("Refused", &Who::Nobody, &format!("<p>{}</p>", esc(why))),
    )
}

async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Who::Session(..) = app.who(&headers) {
        return Redirect::to("/").into_response();
    }
    html(StatusCode::OK, layout("Log in", &Who::Nobody, LOGIN_FORM))
}

const LOGIN_FORM: &str = r#"<form method="post" action="/login"><label>Password <input type="password" name="password" autofocus autocomplete="current-password"></label> <button>Log in</button></form>"#;

#[derive(Deserialize)]
struct LoginForm {
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = peer.ip();
    // Counted when it starts: parallel guesses cannot all pass before one fails.
    let allowed = app
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .attempt(client, Instant::now());
    if !allowed {
        tracing::warn!("console: login from {client} refused: too many failed attempts");
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins; try again in a few minutes.",
        );
    }
    let Ok(_slot) = app.argon2_slots.try_acquire() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy checking other logins; try again.",
        );
    };
    let cfg = app.cfg.console.clone();
    let role = blocking(move || cfg.check_password(&form.password)).await;
    let Some(role) = role else {
        tracing::warn!("console: failed login from {client}");
        let body = format!("<p class=\"bad\">Wrong password.</p>{LOGIN_FORM}");
        return html(
            StatusCode::UNAUTHORIZED,
            layout("Log in", &Who::Nobody, &body),
        );
    };
    app.limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .succeeded(client);
    let (id, s) =
        app.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open(role, client, Instant::now());
    tracing::info!("console: {} logged in", s.who);
    let secure = if app.cfg.console.tls() {
        "; Secure"
    } else {
        ""
    };
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}"
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// For a POST: whether the caller may change state (admin session with its CSRF token,
/// or the token): who, for the journal; otherwise the status and why.
fn may_change(who: &Who, csrf: &str, peer: IpAddr) -> Result<String, (StatusCode, &'static str)> {
    match who {
        Who::Token => Ok(format!("token@{peer}")),
        Who::Session(_, s) => {
            if !same_secret(csrf, &s.csrf) {
                tracing::warn!("console: {} sent a request without its CSRF token", s.who);
                return Err((
                    StatusCode::FORBIDDEN,
                    "This request did not come from a page of this console (CSRF token missing or wrong).",
                ));
            }
            if !s.role.may_change() {
                return Err((StatusCode::FORBIDDEN, "This account is read-only."));
            }
            Ok(s.who.clone())
        }
        Who::Nobody => Err((StatusCode::UNAUTHORIZED, "Log in first.")),
    }
}

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Who::Session(id, s) = app.who(&headers) {
        if same_secret(&form.csrf, &s.csrf) {
            app.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .close(&id);
        }
    }
    let mut r = Redirect::to("/login").into_response();
    let cookie = if app.cfg.console.tls() {
        "sg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
    } else {
        "sg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    };
    r.headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(cookie));
    r
}

/// What the overview shows, read in one go off the async workers.
struct Overview {
    in_force: Result<Vec<decisions::Row>, String>,
    list_warning: Option<String>,
    decisions: Result<Vec<Decision>, String>,
    plugin: Option<PluginStats>,
    rulesync: Option<suriguard_intel::store::Store>,
    queues: Option<crate::store::QueueCounts>,
}

fn read_overview(cfg: &Config, src: &MetricSources) -> Overview {
    let (in_force, list_warning) = match decisions::list(cfg) {
        Ok((rows, w)) => (Ok(rows), w),
        Err(e) => (Err(e.to_string()), None),
    };
    let decisions = match DecisionLog::read_recent(&src.decisions) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", src.decisions.display())),
    };
    let plugin = std::fs::read_to_string(&src.stats_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let rulesync = src
        .rulesync_state
        .exists()
        .then(|| suriguard_intel::store::Store::load(&src.rulesync_state).ok())
        .flatten();
    let queues = src
        .database
        .exists()
        .then(|| crate::store::Store::open(&src.database).ok())
        .flatten()
        .and_then(|s| s.queue_counts().ok());
    Overview {
        in_force,
        list_warning,
        decisions,
        plugin,
        rulesync,
        queues,
    }
}

async fn overview(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let who = app.who(&headers);
    if matches!(who, Who::Nobody) {
        return to_login();
    }
    let a = Arc::clone(&app);
    let o = blocking(move || read_overview(&a.cfg, &a.sources)).await;
    let now = suriguard_enforce::now_secs();
    let mut b = String::new();

    // Plugin health.
    b.push_str("<h2>Plugin</h2>");
    match &o.plugin {
        None => b.push_str(&format!(
            "<p class=\"bad\">No plugin counters at {} (set <code>stats-file</code> in the plugin's eve-log section).</p>",
            esc(&app.sources.stats_file.display().to_string())
        )),
        Some(p) => {
            let age = now.saturating_sub(p.updated_unix);
            let rate = {
                let mut last = app.last_records.lock().unwrap_or_else(|x| x.into_inner());
                let t = Instant::now();
                let r = last.and_then(|(t0, n0)| {
                    let dt = t.duration_since(t0).as_secs_f64();
                    (dt > 0.5 && p.write.calls >= n0).then(|| (p.write.calls - n0) as f64 / dt)
                });
                *last = Some((t, p.write.calls));
                r
            };
            let silent_after = (3 * p.stats_interval).max(30);
            let state = if p.running && age <= silent_after {
                "<span class=\"ok\">running</span>".to_owned()
            } else if p.running {
                format!("<span class=\"bad\">silent for {age} s</span>")
            } else {
                "<span class=\"bad\">stopped</span>".to_owned()
            };
            let drops = p.write.dropped_queue_full
                + p.eve_file.as_ref().map_or(0, |f| f.dropped_queue_full + f.lost);
            let model = match &p.ingest.model {
                Some(m) if m.disabled.is_none() => "on".to_owned(),
                Some(_) => "switched itself off".to_owned(),
                None => "off".to_owned(),
            };
            let enforcement = match &p.enforcement {
                Some(e) if e.healthy => "<span class=\"ok\">healthy</span>".to_owned(),
                Some(e) => format!(
                    "<span class=\"bad\">failing: {}</span>",
                    esc(e.last_error.as_deref().unwrap_or("not set up"))
                ),
                None => "none (journal only)".to_owned(),
            };
            let _ = write!(
                b,
                "<div class=\"card\">state<div class=\"big\">{state}</div></div>\
                 <div class=\"card\">records<div class=\"big\">{}</div>{}</div>\
                 <div class=\"card\">dropped<div class=\"big\">{drops}</div></div>\
                 <div class=\"card\">parse errors<div class=\"big\">{}</div></div>\
                 <div class=\"card\">model<div class=\"big\">{model}</div></div>\
                 <div class=\"card\">enforcement<div class=\"big\">{enforcement}</div></div>",
                p.write.calls,
                rate.map(|r| format!("{r:.0}/s")).unwrap_or_default(),
                p.ingest.parse_errors,
            );
        }
    }

    // In force.
    b.push_str("<h2>In force</h2>");
    if let Some(w) = &o.list_warning {
        let _ = write!(b, "<p class=\"bad\">{}</p>", esc(w));
    }
    match &o.in_force {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(e));
        }
        Ok(rows) => {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for r in rows {
                *by.entry(r.action.as_str()).or_default() += 1;
            }
            if by.is_empty() {
                b.push_str("<p>Nothing is blocked or quarantined.</p>");
            }
            for (k, n) in by {
                let _ = write!(
                    b,
                    "<div class=\"card\">{}<div class=\"big\">{n}</div></div>",
                    esc(k)
                );
            }
        }
    }

    // Decisions over time (the last 24 hours; when none fell in them, the 24 hours up to
    // the latest decision, so a replayed capture still shows its shape), top sources
    // and reasons.
    match &o.decisions {
        Err(e) => {
            b.push_str("<h2>Decisions</h2>");
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(e));
        }
        Ok(all) => {
            let now_us = now as i64 * 1_000_000;
            let recent = all.iter().any(|d| d.time_us > now_us - 86_400_000_000);
            let end_us = match all.iter().max_by_key(|d| d.time_us) {
                Some(latest) if !recent => {
                    let _ = write!(
                        b,
                        "<h2>Decisions in the 24 hours up to the latest ({})</h2>",
                        esc(&latest.time)
                    );
                    latest.time_us
                }
                _ => {
                    b.push_str("<h2>Decisions, last 24 hours</h2>");
                    now_us
                }
            };
            let day: Vec<&Decision> = all
                .iter()
                .filter(|d| d.time_us > end_us - 86_400_000_000 && d.time_us <= end_us)
                .collect();
            let mut hours = [0u32; 24];
            for d in &day {
                let h = ((end_us - d.time_us) / 3_600_000_000).clamp(0, 23) as usize;
                hours[23 - h] += 1;
            }
            b.push_str(&bar_chart(&hours, "decisions per hour, oldest left"));
            let mut sources: BTreeMap<String, usize> = BTreeMap::new();
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for d in all {
                *sources.entry(d.target.to_string()).or_default() += 1;
                *reasons.entry(d.reason.as_str()).or_default() += 1;
            }
            let _ = write!(
                b,
                "<p>{} decisions in the journal, {} in these 24 hours.</p>",
                all.len(),
                day.len()
            );
            b.push_str("<h3>Top sources</h3>");
            b.push_str(&top_table(&sources, "source", true));
            b.push_str("<h3>Reasons</h3>");
            let reasons: BTreeMap<String, usize> = reasons
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            b.push_str(&top_table(&reasons, "reason", false));
        }
    }

    // Intelligence and queues.
    b.push_str("<h2>Threat intelligence (rulesync)</h2>");
    match &o.rulesync {
        None => b.push_str("<p>No rulesync state yet.</p>"),
        Some(s) => {
            b.push_str("<table><tr><th>source</th><th>last success</th><th>indicators</th><th>last error</th></tr>");
            for (name, st) in &s.sources {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"bad\">{}</td></tr>",
                    esc(name),
                    st.last_success
                        .map(|t| format!("{} s ago", now as i64 - t))
                        .unwrap_or_else(|| "never".into()),
                    st.accepted,
                    esc(st.last_error.as_deref().unwrap_or(""))
                );
            }
            b.push_str("</table>");
        }
    }
    b.push_str("<h2>Queues</h2>");
    match &o.queues {
        None => b.push_str("<p>No store yet (suriguardctl run has not run).</p>"),
        Some(q) => {
            let pending: u64 = ["pending", "retry"]
                .iter()
                .filter_map(|s| q.misp.get(*s))
                .sum();
            let failed: u64 = q
                .outbox
                .iter()
                .filter(|((_, s), _)| s == "failed")
                .map(|(_, n)| n)
                .sum();
            let _ = write!(
                b,
                "<div class=\"card\">MISP push queue<div class=\"big\">{pending}</div></div>\
                 <div class=\"card\">failed notifications<div class=\"big\">{failed}</div></div>"
            );
        }
    }
    html(StatusCode::OK, layout("Overview", &who, &b))
}

fn top_table(counts: &BTreeMap<String, usize>, what: &str, link: bool) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut s = format!("<table><tr><th>{what}</th><th>decisions</th></tr>");
    for (k, n) in v.into_iter().take(10) {
        let cell = if link {
            format!("<a href=\"/decisions/{}\">{}</a>", url_part(k), esc(k))
        } else {
            esc(k)
        };
        let _ = write!(s, "<tr><td>{cell}</td><td>{n}</td></tr>");
    }
    s.push_str("</table>");
    s
}

#[derive(Deserialize)]
struct DecisionsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    extended: String,
}

async fn decisions_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<DecisionsQuery>,
) -> Response {
    let who = app.who(&headers);
    let Some((csrf, may)) = rights(&who) else {
        return to_login();
    };
    let a = Arc::clone(&app);
    let o = blocking(move || read_overview(&a.cfg, &a.sources)).await;
    let q = query.q.trim().to_ascii_lowercase();
    let mut b = String::new();
    if !query.done.is_empty() {
        let _ = write!(b, "<p class=\"ok\">Unblocked {}.</p>", esc(&query.done));
    }
    if !query.extended.is_empty() {
        let _ = write!(
            b,
            "<p class=\"ok\">Extended {} by {} s.</p>",
            esc(&query.extended),
            app.cfg.decisions.ttl
        );
    }
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/decisions\"><input name=\"q\" value=\"{}\" placeholder=\"address or reason\"> <button>Filter</button></form>",
        esc(&query.q)
    );
    b.push_str("<h2>In force</h2>");
    if let Some(w) = &o.list_warning {
        let _ = write!(b, "<p class=\"bad\">{}</p>", esc(w));
    }
    match &o.in_force {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(e));
        }
        Ok(rows) => {
            b.push_str("<table><tr><th>target</th><th>action</th><th>reason</th><th>expires in</th><th>state</th><th>by</th><th></th></tr>");
            for r in rows.iter().filter(|r| {
                q.is_empty() || r.target.to_string().contains(&q) || r.reason.contains(&q)
            }) {
                let target = r.target.to_string();
                let form = |action: &str, label: &str| {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/decisions/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"target\" value=\"{}\"><button>{label}</button></form>",
                        esc(&csrf),
                        esc(&target)
                    )
                };
                let button = match (may, r.limit) {
                    (false, _) => String::new(),
                    // A rate limit is lifted, never extended by hand.
                    (true, Some(_)) => form("unblock", "Unblock"),
                    (true, None) => {
                        form("unblock", "Unblock")
                            + " "
                            + &form("extend", "Extend")
                            + " "
                            + &allow::never_block_link(&target)
                    }
                };
                let _ = write!(
                    b,
                    "<tr><td><a href=\"/decisions/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{button}</td></tr>",
                    url_part(&target),
                    esc(&target),
                    esc(&decisions::action_text(r.action, r.limit)),
                    esc(&r.reason),
                    r.expires_in.map(|s| format!("{s} s")).unwrap_or_default(),
                    esc(r.state),
                    esc(&r.by)
                );
            }
            b.push_str("</table>");
        }
    }
    b.push_str("<h2>Journal (latest first)</h2>");
    if let Ok(all) = &o.decisions {
        b.push_str("<table><tr><th>time</th><th>target</th><th>action</th><th>reason</th><th>summary</th></tr>");
        for d in all
            .iter()
            .rev()
            .filter(|d| {
                q.is_empty() || d.target.to_string().contains(&q) || d.reason.as_str().contains(&q)
            })
            .take(200)
        {
            let _ = write!(
                b,
                "<tr><td>{}</td><td><a href=\"/decisions/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.time),
                url_part(&d.id),
                esc(&d.target.to_string()),
                esc(d.action.as_str()),
                esc(d.reason.as_str()),
                esc(&d.summary)
            );
        }
        b.push_str("</table>");
    }
    html(StatusCode::OK, layout("Decisions", &who, &b))
}

async fn explain_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let who = app.who(&headers);
    if matches!(who, Who::Nobody) {
        return to_login();
    }
    let a = Arc::clone(&app);
    let what = id.clone();
    let found = blocking(move || decisions::find(&a.cfg, &what)).await;
    let mut b = String::new();
    match found {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(&e.to_string()));
        }
        Ok(ds) if ds.is_empty() => {
            let _ = write!(b, "<p>No decision matches {}.</p>", esc(&id));
        }
        Ok(ds) => {
            for d in &ds {
                let _ = write!(b, "<pre>{}</pre>", esc(&decisions::explain(d)));
            }
            let may = rights(&who).is_some_and(|(_, may)| may);
            let mut targets: Vec<IpAddr> = ds.iter().map(|d| d.target).collect();
            targets.dedup();
            for t in targets {
                let _ = write!(
                    b,
                    "<p><a href=\"/devices/{}\">Page of {}</a>",
                    url_part(&t.to_string()),
                    esc(&t.to_string())
                );
                if may && app.cfg.network_model().protected(t).is_none() {
                    b.push(' ');
                    b.push_str(&allow::never_block_link(&t.to_string()));
                }
                b.push_str("</p>");
            }
        }
    }
    html(StatusCode::OK, layout(&format!("Decision {id}"), &who, &b))
}

#[derive(Deserialize)]
struct UnblockForm {
    #[serde(default)]
    csrf: String,
    target: String,
    /// `device`: go back to the address's page afterwards.
    #[serde(default)]
    from: String,
}

/// What a firewall form asks for.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Lift every element against an address or prefix (decisions page).
    Unblock,
    /// Cut a home device off for `[decisions] ttl` (device page).
    Quarantine,
    /// Lift a device's elements (device page).
    Release,
    /// Keep a block or quarantine in force `[decisions] ttl` longer (decisions page).
    Extend,
}

/// A firewall change from a form: the caller may change state, the target parses, then
/// the CLI's own path (`decisions::add` / `delete_by`), journaled with who.
async fn firewall_change(
    app: Arc<App>,
    headers: HeaderMap,
    peer: SocketAddr,
    form: UnblockForm,
    what: Change,
) -> Response {
    let by = match may_change(&app.who(&headers), &form.csrf, peer.ip()) {
        Ok(by) => by,
        Err((status, why)) => return refused(status, why),
    };
    let target = match what {
        Change::Unblock | Change::Extend => form.target.parse::<Cidr>().ok(),
        Change::Quarantine | Change::Release => form.target.parse::<IpAddr>().ok().map(Cidr::host),
    };
    let Some(target) = target else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Not an address (or, to unblock, a prefix).",
        );
    };
    let a = Arc::clone(&app);
    let who = by.clone();
    let ttl = app.cfg.decisions.ttl;
    let done = blocking(move || match what {
        Change::Extend => extend_in_force(&a.cfg, target, ttl, &who),
        Change::Quarantine => decisions::add(
            &a.cfg,
            target,
            suriguard_enforce::SetKind::Quarantine,
            ttl,
            &format!("manual:console:{who}"),
        )
        .map(|_| ()),
        Change::Unblock | Change::Release => {
            decisions::delete_by(&a.cfg, target, &format!("console:{who}")).map(|_| ())
        }
    })
    .await;
    if let Err(e) = done {
        return refused(StatusCode::CONFLICT, &e.to_string());
    }
    tracing::info!("console: {by}: {what:?} {target}");
    let shown = url_part(&target.to_string());
    let next = match what {
        Change::Unblock if form.from == "device" => format!("/devices/{shown}?done=unblocked"),
        Change::Unblock => format!("/decisions?done={shown}"),
        Change::Extend => format!("/decisions?extended={shown}"),
        Change::Quarantine | Change::Release => format!("/devices/{}", url_part(&form.target)),
    };
    Redirect::to(&next).into_response()
}

/// Every block or quarantine in force against exactly `target`, kept `extra` seconds
/// longer than it has left (journaled as the console's, with who).
fn extend_in_force(cfg: &Config, target: Cidr, extra: u64, who: &str) -> Result<(), CtlError> {
    let (rows, _) = decisions::list(cfg)?;
    let mut any = false;
    for r in rows
        .iter()
        .filter(|r| r.target == target && r.limit.is_none())
    {
        let left = r.expires_in.unwrap_or(0);
        decisions::add(
            cfg,
            target,
            r.action,
            left + extra,
            &format!("extended:console:{who}"),
        )?;
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err(CtlError::NoDecision { target })
    }
}

async fn extend(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<UnblockForm>,
) -> Response {
    firewall_change(app, headers, peer, form, Change::Extend).await
}

async fn unblock(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<UnblockForm>,
) -> Response {
    firewall_change(app, headers, peer, form, Change::Unblock).await
}

async fn metrics_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
) -> Response {
    // Loopback needs no token, but only under a loopback name: a page the admin visits
    // cannot rebind its own name to 127.0.0.1 and read this.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let allowed = (peer.ip().to_canonical().is_loopback() && loopback_host(host))
        || matches!(app.who(&headers), Who::Token);
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics: loopback clients or the [console] token only\n",
        )
            .into_response();
    }
    let a = Arc::clone(&app);
    let mut text =
        blocking(move || metrics::render(&a.sources, suriguard_enforce::now_secs())).await;
    text.push_str(&device_metrics(&app));
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    r
}

/// `serve passwd`: a PHC line for `[console]` from a password read on stdin.
pub fn passwd(viewer: bool) -> Result<String, CtlError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| CtlError::Password(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.chars().count() < 10 {
        return Err(CtlError::Password(
            "the password must be at least 10 characters".into(),
        ));
    }
    let hash = suriguard_report::console::hash_password(password)?;
    let key = if viewer {
        "viewer-password-hash"
    } else {
        "password-hash"
    };
    Ok(format!(
        "# under [console] in suriguard.toml:\n{key} = \"{hash}\""
    ))
}

/// A `Host` header naming this machine's loopback: `localhost`, `127.x.y.z` or `[::1]`,
/// with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The device API's counters, in the exposition format.
fn device_metrics(app: &App) -> String {
    let counts = app
        .device_outcomes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut e = suriguard_report::metrics::Exposition::new();
    e.counter_each(
        "suriguard_device_alerts_total",
        "Device alert API requests since the console started, by outcome (accepted or why refused).",
        counts.iter().map(|(k, v)| (vec![("outcome", *k)], *v as f64)),
    );
    e.finish()
}

/// The answer to a device: JSON with the outcome.
fn device_answer(app: &App, outcome: Result<serde_json::Value, Refusal>) -> Response {
    let (status, body, label) = match outcome {
        Ok(v) => (StatusCode::ACCEPTED, v, "accepted"),
        Err(r) => (
            StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST),
            serde_json::json!({ "error": r.public() }),
            r.as_str(),
        ),
    };
    *app.device_outcomes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(label)
        .or_default() += 1;
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `POST /api/v1/device-alerts`: a signed alert from a device (see
/// `suriguard_report::device`). Checked in order: size, the client's recent failures,
/// headers, device, timestamp, signature, nonce, rate, schema; only then is anything
/// written (the nonce and the incident, in one transaction).
async fn device_alert(
    State(app): State<Arc<App>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let max = app.cfg.console.device_max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return device_answer(&app, Err(Refusal::TooLarge));
    }
    let Ok(body) = axum::body::to_bytes(body, max).await else {
        return device_answer(&app, Err(Refusal::TooLarge));
    };
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (device, timestamp, nonce, signature) = (
        h("x-suriguard-device"),
        h("x-suriguard-timestamp"),
        h("x-suriguard-nonce"),
        h("x-suriguard-signature"),
    );
    let a = Arc::clone(&app);
    let outcome = blocking(move || {
        let signed = Signed {
            device: &device,
            timestamp: &timestamp,
            nonce: &nonce,
            signature: &signature,
        };
        device_request(&a, peer.ip(), &signed, &body)
    })
    .await;
    device_answer(&app, outcome)
}

fn device_request(
    app: &App,
    client: IpAddr,
    s: &Signed<'_>,
    body: &[u8],
) -> Result<serde_json::Value, Refusal> {
    let c = &app.cfg.console;
    // Counted as a failure until the signature checks out.
    let may_try = app
        .device_failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .attempt(client, Instant::now());
    if !may_try {
        return Err(Refusal::TooManyFailures);
    }
    let ts = check_form(s)?;
    let mut guard = app.store.lock().unwrap_or_else(|p| p.into_inner());
    if guard.is_none() {
        let opened = crate::store::Store::open(&app.cfg.database()).map_err(|e| {
            tracing::error!("console: device alert: {e}");
            Refusal::Unavailable
        })?;
        *guard = Some(opened);
    }
    let store = guard.as_ref().expect("opened above");
    let key = store
        .device_key(s.device)
        .map_err(|_| Refusal::Unavailable)?
        .ok_or(Refusal::UnknownDevice)?;
    let now = suriguard_enforce::now_secs() as i64;
    verify(s, ts, body, &key, now, c.device_max_skew)?;
    app.device_failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .succeeded(client);
    if store
        .nonce_used(s.device, s.nonce)
        .map_err(|_| Refusal::Unavailable)?
    {
        return Err(Refusal::ReplayedNonce);
    }
    {
        let mut rate = app.device_rate.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now / 60;
        let e = rate.entry(s.device.to_owned()).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        if e.1 >= c.device_rate_limit {
            return Err(Refusal::RateLimited);
        }
        e.1 += 1;
    }
    let alert = DeviceAlert::parse(body).map_err(|why| {
        tracing::info!("console: device {} sent a bad alert: {why}", s.device);
        Refusal::BadAlert
    })?;
    let now_us = crate::store::now_us();
    let time = suriguard_decision::rfc3339(suriguard_eve::EveTime(now_us));
    let inc = alert.incident(s.device, s.nonce, &time, now_us);
    let cfg = &app.cfg;
    let state = if cfg.misp.url.is_some() && cfg.misp.wants(&inc) {
        "pending"
    } else {
        "local"
    };
    // The nonce and the incident together, or neither.
    let write = || -> Result<bool, CtlError> {
        if !store.use_nonce(s.device, s.nonce, ts, now - 2 * c.device_max_skew)? {
            return Ok(false);
        }
        if store.insert(&inc, state, None, now_us)? {
            crate::notify::plan(store, &cfg.notify, &inc, now_us)?;
        }
        Ok(true)
    };
    let written = store
        .db
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())
        .and_then(|()| write().map_err(|e| e.to_string()))
        .and_then(|fresh| {
            if fresh {
                store
                    .db
                    .execute_batch("COMMIT")
                    .map(|()| true)
                    .map_err(|e| e.to_string())
            } else {
                Ok(false)
            }
        });
    match written {
        Ok(true) => {}
        Ok(false) => {
            let _ = store.db.execute_batch("ROLLBACK");
            return Err(Refusal::ReplayedNonce);
        }
        Err(e) => {
            let _ = store.db.execute_batch("ROLLBACK");
            tracing::error!("console: device alert from {}: {e}", s.device);
            return Err(Refusal::Unavailable);
        }
    }
    drop(guard);
    tracing::info!(
        "console: device {} reports {:?} (severity {})",
        s.device,
        alert.signature,
        alert.severity
    );
    let decision = alert
        .block
        .then(|| device_decision(app, s.device, &alert, now_us));
    Ok(serde_json::json!({ "incident": inc.key, "decision": decision }))
}

/// A device asked for a block: allowed by the config, not protected, within the caps;
/// then enforced like `decisions add`. The answer says what happened.
fn device_decision(app: &App, device: &str, alert: &DeviceAlert, now_us: i64) -> String {
    let cfg = &app.cfg;
    let Some(target) = alert.src_ip else {
        return "refused: no src_ip".into();
    };
    if !cfg.console.device_decisions {
        return "refused: [console] device-decisions is off; kept as an alert".into();
    }
    let net = cfg.network_model();
    if net.is_home(target) {
        return "refused: a home address; kept as an alert".into();
    }
    // The cap on what is in force counts every decision, the plugin's and the CLI's too
    // (the journal and the live sets, as `decisions list` reads them), not only this
    // gate's own.
    match decisions::list(cfg) {
        Ok((rows, _)) => {
            if rows.iter().any(|r| {
                r.target == Cidr::host(target) && r.action == suriguard_enforce::SetKind::Block
            }) {
                return format!("already blocked: {target}");
            }
            if rows.len() >= cfg.decisions.max_active {
                return format!(
                    "refused: {} decisions in force, [decisions] max-active is {}",
                    rows.len(),
                    cfg.decisions.max_active
                );
            }
        }
        Err(e) => return format!("refused: cannot count the decisions in force: {e}"),
    }
    let admitted = app
        .device_gate
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(target, now_us, net.protected(target));
    if let Err(why) = admitted {
        return format!("refused: {why:?}");
    }
    match decisions::add(
        cfg,
        Cidr::host(target),
        suriguard_enforce::SetKind::Block,
        cfg.console.device_decision_ttl,
        &format!("device-alert:{device}"),
    ) {
        Ok(a) if a.enforced => format!("blocked {target} for {} s", a.ttl),
        Ok(a) => format!("journaled {target} for {} s (not enforced)", a.ttl),
        Err(e) => format!("refused: {e}"),
    }
}

/// The home devices the plugin profiles (`baselines.json`), with the decisions about them.
struct DeviceView {
    devices: Result<Vec<suriguard_detect::baseline::DeviceEntry>, String>,
    decisions: Vec<Decision>,
    in_force: Vec<decisions::Row>,
}

fn read_devices(cfg: &Config, src: &MetricSources) -> DeviceView {
    let devices = match cfg.baselines_file() {
        None => Err("device baselines are off ([detect.baseline] enabled = false)".to_owned()),
        Some(path) if !path.exists() => Err(format!(
            "no device baselines yet at {} (the plugin saves them every save-interval)",
            path.display()
        )),
        Some(path) => suriguard_detect::baseline::BaselineFile::load(&path)
            .map(|f| f.devices)
            .map_err(|e| e.to_string()),
    };
    let decisions = DecisionLog::read_recent(&src.decisions).unwrap_or_default();
    let in_force = decisions::list(cfg).map(|(r, _)| r).unwrap_or_default();
    DeviceView {
        devices,
        decisions,
        in_force,
    }
}

fn us_time(us: i64) -> String {
    if us <= 0 {
        return "-".into();
    }
    suriguard_decision::rfc3339(suriguard_eve::EveTime(us))
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("proto {n}"),
    }
}

async fn devices_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let who = app.who(&headers);
    if matches!(who, Who::Nobody) {
        return to_login();
    }
    let a = Arc::clone(&app);
    let (v, traffic) = blocking(move || {
        let v = read_devices(&a.cfg, &a.sources);
        let net = a.cfg.network_model();
        let traffic = suriguard_report::flows::read_tail(
            &a.cfg.console.eve_log,
            suriguard_report::flows::TAIL_BYTES,
        )
        .map(|tail| suriguard_report::flows::totals(&tail, |ip| net.is_home(ip)));
        (v, traffic)
    })
    .await;
    let mut b = String::new();
    match &v.devices {
        Err(e) => {
            let _ = write!(b, "<p>{}</p>", esc(e));
        }
        Ok(devices) => {
            let _ = write!(b, "<p>{} home devices seen.", devices.len());
            match &traffic {
                Ok(_) => {
                    let _ = write!(
                        b,
                        " Flows, bytes and alerts are from the last 16 MiB of {}.",
                        esc(&app.cfg.console.eve_log.display().to_string())
                    );
                }
                Err(e) => {
                    let _ = write!(
                        b,
                        " No traffic figures: cannot read {} ({}).",
                        esc(&app.cfg.console.eve_log.display().to_string()),
                        esc(&e.to_string())
                    );
                }
            }
            b.push_str("</p>");
            b.push_str("<table><tr><th>address</th><th>name</th><th>MAC</th><th>first seen</th><th>last seen</th><th>services</th><th>flows</th><th>sent</th><th>received</th><th>alerts</th><th>decisions</th><th>now</th></tr>");
            let mut sorted: Vec<_> = devices.iter().collect();
            sorted.sort_by_key(|d| std::cmp::Reverse(d.profile.last_seen_us));
            for d in sorted {
                let addr = d.addr.to_string();
                let n = v.decisions.iter().filter(|x| x.target == d.addr).count();
                let now: Vec<String> = v
                    .in_force
                    .iter()
                    .filter(|r| r.target == Cidr::host(d.addr))
                    .map(|r| decisions::action_text(r.action, r.limit))
                    .collect();
                let t = traffic
                    .as_ref()
                    .ok()
                    .and_then(|t| t.get(&d.addr).copied())
                    .unwrap_or_default();
                let _ = write!(
                    b,
                    "<tr><td><a href=\"/devices/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{n}</td><td class=\"bad\">{}</td></tr>",
                    url_part(&addr),
                    esc(&addr),
                    esc(d.profile.hostname.as_deref().unwrap_or("")),
                    esc(d.profile.mac.as_deref().unwrap_or("")),
                    esc(&us_time(d.profile.first_seen_us)),
                    esc(&us_time(d.profile.last_seen_us)),
                    d.profile.services.len(),
                    t.flows,
                    t.bytes_out,
                    t.bytes_in,
                    t.alerts,
                    esc(&now.join(", "))
                );
            }
            b.push_str("</table>");
        }
    }
    html(StatusCode::OK, layout("Devices", &who, &b))
}

async fn device_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(addr): UrlPath<String>,
) -> Response {
    let who = app.who(&headers);
    let Some((csrf, may)) = rights(&who) else {
        return to_login();
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return refused(StatusCode::BAD_REQUEST, "Not an address.");
    };
    let a = Arc::clone(&app);
    let v = blocking(move || read_devices(&a.cfg, &a.sources)).await;
    let mut b = String::new();
    let profile = v
        .devices
        .as_ref()
        .ok()
        .and_then(|ds| ds.iter().find(|d| d.addr == ip))
        .map(|d| &d.profile);
    match profile {
        None => {
            b.push_str("<p>No profile for this address (not a home device, or not seen yet).</p>")
        }
        Some(p) => {
            let _ = write!(
                b,
                "<p>{} · MAC {} · first seen {} · last seen {}</p>",
                esc(p.hostname.as_deref().unwrap_or("no DHCP name")),
                esc(p.mac.as_deref().unwrap_or("unknown")),
                esc(&us_time(p.first_seen_us)),
                esc(&us_time(p.last_seen_us))
            );
            b.push_str("<h2>Services it uses</h2><table><tr><th>service</th><th>flows</th><th>first</th><th>last</th></tr>");
            let mut services = p.services.clone();
            services.sort_by_key(|s| std::cmp::Reverse(s.flows));
            for s in &services {
                let _ = write!(
                    b,
                    "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&proto_name(s.proto)),
                    s.port,
                    s.flows,
                    esc(&us_time(s.first_us)),
                    esc(&us_time(s.last_us))
                );
            }
            b.push_str("</table><h2>Regular contacts</h2><table><tr><th>host</th><th>service</th><th>period</th><th>learned</th></tr>");
            for c in &p.periodic {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}/{}</td><td>{:.0} s</td><td>{}</td></tr>",
                    esc(&c.host.to_string()),
                    esc(&proto_name(c.proto)),
                    c.port,
                    c.period_secs,
                    if c.learned { "yes" } else { "no" }
                );
            }
            b.push_str("</table>");
        }
    }
    let eve = app.cfg.console.eve_log.clone();
    let traffic = blocking(move || {
        suriguard_report::flows::read_tail(&eve, suriguard_report::flows::TAIL_BYTES)
            .map(|tail| suriguard_report::flows::summarize(&tail, ip))
    })
    .await;
    b.push_str(&traffic_section(&app.cfg.console.eve_log, traffic));
    b.push_str("<h2>Now</h2>");
    let rows: Vec<&decisions::Row> = v
        .in_force
        .iter()
        .filter(|r| r.target == Cidr::host(ip))
        .collect();
    if rows.is_empty() {
        b.push_str("<p>Nothing in force against it.</p>");
    }
    for r in &rows {
        let _ = write!(
            b,
            "<p class=\"bad\">{} ({}), {} s left</p>",
            esc(&decisions::action_text(r.action, r.limit)),
            esc(&r.reason),
            r.expires_in.unwrap_or(0)
        );
    }
    if may {
        let form = |action: &str, label: &str| {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"target\" value=\"{}\"><input type=\"hidden\" name=\"from\" value=\"device\"><button>{label}</button></form> ",
                esc(&csrf),
                esc(&ip.to_string())
            )
        };
        let has = |k: suriguard_enforce::SetKind| rows.iter().any(|r| r.action == k);
        b.push_str("<p>");
        if has(suriguard_enforce::SetKind::Quarantine) {
            b.push_str(&form("/devices/release", "Release"));
        } else if app.cfg.network_model().is_home(ip) {
            b.push_str(&form("/devices/quarantine", "Quarantine"));
        }
        if rows
            .iter()
            .any(|r| r.action != suriguard_enforce::SetKind::Quarantine)
        {
            b.push_str(&form("/decisions/unblock", "Unblock"));
        }
        match app.cfg.network_model().protected(ip) {
            Some(why) => {
                let _ = write!(b, "Never blocked: {}.", esc(why));
            }
            None => b.push_str(&allow::never_block_link(&ip.to_string())),
        }
        b.push_str("</p>");
    }
    b.push_str("<h2>Decisions about it</h2><table><tr><th>time</th><th>action</th><th>reason</th><th>summary</th></tr>");
    for d in v
        .decisions
        .iter()
        .rev()
        .filter(|d| d.target == ip)
        .take(100)
    {
        let _ = write!(
            b,
            "<tr><td><a href=\"/decisions/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            url_part(&d.id),
            esc(&d.time),
            esc(d.action.as_str()),
            esc(d.reason.as_str()),
            esc(&d.summary)
        );
    }
    b.push_str("</table>");
    html(StatusCode::OK, layout(&format!("Device {ip}"), &who, &b))
}

/// The device page's "Recent traffic": what the tail of the EVE log says about it.
fn traffic_section(
    eve: &Path,
    traffic: std::io::Result<suriguard_report::flows::FlowSummary>,
) -> String {
    let mut b = String::from("<h2>Recent traffic</h2>");
    let s = match traffic {
        Ok(s) => s,
        Err(e) => {
            let _ = write!(
                b,
                "<p>No flow records: cannot read {} ({}); set <code>[console] eve-log</code>.</p>",
                esc(&eve.display().to_string()),
                esc(&e.to_string())
            );
            return b;
        }
    };
    let _ = write!(
        b,
        "<p>From the last {} records of {} ({} to {}): {} flows ({} started by it, {} of those unanswered), {} bytes sent, {} received, {} alerts.</p>",
        s.records,
        esc(&eve.display().to_string()),
        esc(&us_time(s.first_us)),
        esc(&us_time(s.last_us)),
        s.flows,
        s.initiated,
        s.unanswered,
        s.bytes_out,
        s.bytes_in,
        s.alerts_total
    );
    if !s.peers.is_empty() {
        b.push_str("<table><tr><th>peer</th><th>flows</th><th>bytes</th></tr>");
        for p in &s.peers {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.addr),
                p.flows,
                p.bytes
            );
        }
        b.push_str("</table>");
    }
    if !s.services.is_empty() {
        b.push_str("<table><tr><th>service it reached</th><th>flows</th><th>bytes</th></tr>");
        for x in &s.services {
            let _ = write!(
                b,
                "<tr><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
                x.proto, x.port, x.flows, x.bytes
            );
        }
        b.push_str("</table>");
    }
    if !s.alerts.is_empty() {
        b.push_str(
            "<table><tr><th>alert time</th><th>signature</th><th>severity</th><th>peer</th></tr>",
        );
        for a in &s.alerts {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&us_time(a.time_us)),
                esc(&a.signature),
                a.severity,
                esc(&a.peer)
            );
        }
        b.push_str("</table>");
    }
    b
}

async fn quarantine(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<UnblockForm>,
) -> Response {
    firewall_change(app, headers, peer, form, Change::Quarantine).await
}

async fn release(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<UnblockForm>,
) -> Response {
    firewall_change(app, headers, peer, form, Change::Release).await
}

#[derive(Deserialize)]
struct AlertsQuery {
    /// Highest severity number shown (1 most severe; 3 shows all).
    #[serde(default = "all_severities")]
    severity: u8,
    /// Text in the source, destination or signature.
    #[serde(default)]
    q: String,
}

fn all_severities() -> u8 {
    3
}

/// Incidents in the store (Suricata alerts and the plugin's decisions, read in by
/// `suriguardctl run`; device alerts), latest first.
async fn alerts_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<AlertsQuery>,
) -> Response {
    let who = app.who(&headers);
    if matches!(who, Who::Nobody) {
        return to_login();
    }
    let a = Arc::clone(&app);
    let severity = query.severity.clamp(1, 3);
    let rows = blocking(move || {
        let path = a.cfg.database();
        if !path.exists() {
            return Ok(Vec::new());
        }
        crate::store::Store::open(&path).and_then(|s| s.list(0, severity, 1000))
    })
    .await;
    let q = query.q.trim().to_ascii_lowercase();
    let mut b = String::new();
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/alerts\"><label>severity ≤ <select name=\"severity\">{}</select></label> <input name=\"q\" value=\"{}\" placeholder=\"address or signature\"> <button>Filter</button></form>",
        (1..=3u8)
            .map(|n| format!(
                "<option value=\"{n}\"{}>{n}</option>",
                if n == severity { " selected" } else { "" }
            ))
            .collect::<String>(),
        esc(&query.q)
    );
    match rows {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(&e.to_string()));
        }
        Ok(rows) if rows.is_empty() => b.push_str(
            "<p>No incidents in the store yet (<code>suriguardctl run</code> reads alerts and decisions in).</p>",
        ),
        Ok(rows) => {
            b.push_str("<table><tr><th>time</th><th>sev</th><th>origin</th><th>source</th><th>destination</th><th>signature</th><th>MISP</th></tr>");
            for r in rows.iter().rev().filter(|r| {
                let i = &r.incident;
                q.is_empty()
                    || i.signature.to_ascii_lowercase().contains(&q)
                    || i.subject_ip().is_some_and(|x| x.contains(&q))
                    || i.dest_ip.as_deref().is_some_and(|x| x.contains(&q))
            }) {
                let i = &r.incident;
                let _ = write!(
                    b,
                    "<tr><td><a href=\"/alerts/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    r.id,
                    esc(&i.time),
                    i.severity,
                    esc(i.origin.as_str()),
                    esc(i.subject_ip().unwrap_or("")),
                    esc(i.dest_ip.as_deref().unwrap_or("")),
                    esc(&i.signature),
                    esc(&r.misp_state)
                );
            }
            b.push_str("</table>");
        }
    }
    html(StatusCode::OK, layout("Alerts and incidents", &who, &b))
}

/// One incident with the built-in mitigation advice (the page never asks the LLM:
/// `suriguardctl mitigate ID` does, when one is configured).
async fn alert_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let who = app.who(&headers);
    if matches!(who, Who::Nobody) {
        return to_login();
    }
    let a = Arc::clone(&app);
    let what = id.clone();
    let found = blocking(move || {
        let store = crate::store::Store::open(&a.cfg.database())?;
        crate::ops::mitigate(&store, &a.cfg, &what, true).map(|(inc, advice)| {
            let text = serde_json::to_string_pretty(&inc).unwrap_or_default();
            (inc, advice, text)
        })
    })
    .await;
    let mut b = String::new();
    match found {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(&e.to_string()));
        }
        Ok((inc, advice, json)) => {
            let _ = write!(
                b,
                "<p>{} · severity {} · {} → {}</p><p>{}</p>",
                esc(&inc.time),
                inc.severity,
                esc(inc.subject_ip().unwrap_or("?")),
                esc(inc.dest_ip.as_deref().unwrap_or("?")),
                esc(&inc.signature)
            );
            let _ = write!(
                b,
                "<h2>What to do: {}</h2><p>{}</p><ol>",
                esc(&advice.title),
                esc(&advice.summary)
            );
            for step in &advice.steps {
                let _ = write!(b, "<li>{}</li>", esc(step));
            }
            let _ = write!(
                b,
                "</ol><p>source: {}</p><details><summary>The incident as stored</summary><pre>{}</pre></details>",
                esc(&advice.source),
                esc(&json)
            );
        }
    }
    html(StatusCode::OK, layout(&format!("Incident {id}"), &who, &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_cookies() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(url_part("2001:db8::1/64"), "2001%3Adb8%3A%3A1%2F64");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sg_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "sg_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "sg"), None);
    }

    #[test]
    fn only_an_admin_with_its_csrf_token_or_the_token_changes_state() {
        use suriguard_report::console::Role;
        let mut sessions = Sessions::new(Duration::from_secs(60));
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let (id, admin) = sessions.open(Role::Admin, peer, Instant::now());
        let (vid, viewer) = sessions.open(Role::Viewer, peer, Instant::now());
        let a = Who::Session(id, admin.clone());
        assert_eq!(
            may_change(&a, &admin.csrf, peer).unwrap(),
            "admin@127.0.0.1"
        );
        assert_eq!(
            may_change(&a, "", peer).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            may_change(&a, &viewer.csrf, peer).unwrap_err().0,
            StatusCode::FORBIDDEN
        );
        let v = Who::Session(vid, viewer.clone());
        assert_eq!(
            may_change(&v, &viewer.csrf, peer).unwrap_err().1,
            "This account is read-only."
        );
        assert_eq!(
            may_change(&Who::Token, "", peer).unwrap(),
            "token@127.0.0.1"
        );
        assert_eq!(
            may_change(&Who::Nobody, &admin.csrf, peer).unwrap_err().0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn chart_scales_to_the_largest_bar() {
        let svg = bar_chart(&[0, 2, 4], "x<y");
        assert!(svg.contains("height=\"120\""), "{svg}");
        assert!(svg.contains("height=\"60\""), "{svg}");
        assert!(svg.contains("x&lt;y") && !svg.contains("x<y"), "{svg}");
    }
}
