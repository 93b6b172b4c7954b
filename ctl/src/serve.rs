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
use suriguard_report::console::{same_secret, LoginLimiter, Session, Sessions};
use suriguard_report::metrics::CONTENT_TYPE;

use crate::config::Config;
use crate::decisions;
use crate::error::CtlError;
use crate::html::{bar_chart, esc, url_part, STYLE};
use crate::metrics::{self, MetricSources};

const COOKIE: &str = "sg_session";

/// The server's state.
pub struct App {
    cfg: Config,
    sources: MetricSources,
    sessions: Mutex<Sessions>,
    limiter: Mutex<LoginLimiter>,
    token: Option<String>,
    /// The last (time, records received) seen, for records/s.
    last_records: Mutex<Option<(Instant, u64)>>,
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
        Ok(App {
            cfg,
            sources,
            sessions: Mutex::new(Sessions::new(lifetime)),
            limiter: Mutex::new(LoginLimiter::default()),
            token,
            last_records: Mutex::new(None),
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
        .route("/decisions/{id}", get(explain_page))
        .route("/decisions/unblock", post(unblock))
        .route("/metrics", get(metrics_page))
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
            r#"<a href="/">Overview</a><a href="/decisions">Decisions</a><span>{}</span><form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{}"><button>Log out</button></form>"#,
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
    let allowed = app
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .allowed(client, Instant::now());
    if !allowed {
        tracing::warn!("console: login from {client} refused: too many failed attempts");
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins; try again in a few minutes.",
        );
    }
    let cfg = app.cfg.console.clone();
    let role = blocking(move || cfg.check_password(&form.password)).await;
    let Some(role) = role else {
        app.limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(client, Instant::now());
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
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("sg_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
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
    let decisions = match DecisionLog::read_all(&src.decisions) {
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
            let state = if p.running && age <= 30 {
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
}

async fn decisions_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<DecisionsQuery>,
) -> Response {
    let who = app.who(&headers);
    let csrf = match &who {
        Who::Nobody => return to_login(),
        Who::Session(_, s) => s.csrf.clone(),
        Who::Token => String::new(),
    };
    let may = match &who {
        Who::Session(_, s) => s.role.may_change(),
        _ => true,
    };
    let a = Arc::clone(&app);
    let o = blocking(move || read_overview(&a.cfg, &a.sources)).await;
    let q = query.q.trim().to_ascii_lowercase();
    let mut b = String::new();
    if !query.done.is_empty() {
        let _ = write!(b, "<p class=\"ok\">Unblocked {}.</p>", esc(&query.done));
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
                let button = if may {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/decisions/unblock\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"target\" value=\"{}\"><button>Unblock</button></form>",
                        esc(&csrf),
                        esc(&target)
                    )
                } else {
                    String::new()
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
        }
    }
    html(StatusCode::OK, layout(&format!("Decision {id}"), &who, &b))
}

#[derive(Deserialize)]
struct UnblockForm {
    #[serde(default)]
    csrf: String,
    target: String,
}

async fn unblock(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<UnblockForm>,
) -> Response {
    let who = app.who(&headers);
    let by = match may_change(&who, &form.csrf, peer.ip()) {
        Ok(by) => by,
        Err((status, why)) => return refused(status, why),
    };
    let Ok(target) = form.target.parse::<Cidr>() else {
        return refused(StatusCode::BAD_REQUEST, "Not an address or prefix.");
    };
    let a = Arc::clone(&app);
    let who_did = by.clone();
    match blocking(move || decisions::delete_by(&a.cfg, target, &format!("console:{who_did}")))
        .await
    {
        Ok(_) => {
            tracing::info!("console: {by} unblocked {target}");
            Redirect::to(&format!(
                "/decisions?done={}",
                url_part(&target.to_string())
            ))
            .into_response()
        }
        Err(e) => refused(StatusCode::CONFLICT, &e.to_string()),
    }
}

async fn metrics_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
) -> Response {
    let allowed = peer.ip().is_loopback() || matches!(app.who(&headers), Who::Token);
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics: loopback clients or the [console] token only\n",
        )
            .into_response();
    }
    let a = Arc::clone(&app);
    let text = blocking(move || metrics::render(&a.sources, suriguard_enforce::now_secs())).await;
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
