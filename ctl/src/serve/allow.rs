//! The console's allowlist: the page listing both parts, "never block this again" (a
//! confirmation page, then the change) and removing an entry of the file. The change
//! itself is `suriguardctl allowlist add|delete`'s code, journaled with who.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write as _;
use suriguard_net::Cidr;

use super::{blocking, html, layout, may_change, refused, rights, to_login, App, Peer};
use crate::allowlist;
use crate::decisions;
use crate::html::{esc, url_part};

/// The link to the confirmation page for `target`.
pub(super) fn never_block_link(target: &str) -> String {
    format!(
        "<a class=\"button\" href=\"/allowlist/confirm?target={}\">Never block this again…</a>",
        url_part(target)
    )
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    added: String,
    #[serde(default)]
    lifted: usize,
    #[serde(default)]
    removed: String,
}

pub(super) async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let who = app.who(&headers);
    let Some((csrf, may)) = rights(&who) else {
        return to_login();
    };
    let a = Arc::clone(&app);
    let listed = blocking(move || allowlist::list(&a.cfg)).await;
    let file = app.cfg.allowlist_file();
    let mut b = String::new();
    if !query.added.is_empty() {
        let _ = write!(
            b,
            "<p class=\"ok\">{} is never blocked from now on; {} decision(s) in force lifted.</p>",
            esc(&query.added),
            query.lifted
        );
    }
    if !query.removed.is_empty() {
        let _ = write!(
            b,
            "<p class=\"ok\">{} removed from the allowlist file.</p>",
            esc(&query.removed)
        );
    }
    let _ = write!(
        b,
        "<p>Never blocked or quarantined, whatever they do: <code>[network] allowlist</code> of the configuration file, and the allowlist file <code>{}</code>, which this page writes and the running plugin re-reads within seconds. Own addresses (<code>[network] own-addresses</code>) are protected as well.</p>",
        esc(&file.display().to_string())
    );
    match listed {
        Err(e) => {
            let _ = write!(b, "<p class=\"bad\">{}</p>", esc(&e.to_string()));
        }
        Ok((entries, skipped)) => {
            for s in &skipped {
                let _ = write!(b, "<p class=\"bad\">Skipped in the file: {}</p>", esc(s));
            }
            b.push_str(
                "<table><tr><th>address or prefix</th><th>where</th><th>note</th><th></th></tr>",
            );
            for e in &entries {
                let target = e.target.to_string();
                let button = if may && e.source == "file" {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/allowlist/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"target\" value=\"{}\"><button>Remove</button></form>",
                        esc(&csrf),
                        esc(&target)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{button}</td></tr>",
                    esc(&target),
                    if e.source == "file" {
                        "file"
                    } else {
                        "configuration"
                    },
                    esc(&e.note)
                );
            }
            b.push_str("</table>");
        }
    }
    if may {
        b.push_str("<h2>Add</h2><form method=\"get\" action=\"/allowlist/confirm\"><input name=\"target\" placeholder=\"address or prefix\" required> <button>Next…</button></form>");
    }
    html(StatusCode::OK, layout("Allowlist", &who, &b))
}

#[derive(Deserialize)]
pub(super) struct ConfirmQuery {
    #[serde(default)]
    target: String,
}

/// What adding `target` will do, and the form that does it.
pub(super) async fn confirm(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<ConfirmQuery>,
) -> Response {
    let who = app.who(&headers);
    let Some((csrf, may)) = rights(&who) else {
        return to_login();
    };
    if !may {
        return refused(StatusCode::FORBIDDEN, "This account is read-only.");
    }
    let Ok(target) = query.target.trim().parse::<Cidr>() else {
        return refused(StatusCode::BAD_REQUEST, "Not an address or prefix.");
    };
    let a = Arc::clone(&app);
    let listed = blocking(move || decisions::list(&a.cfg)).await;
    let mut b = String::new();
    if let Some(why) = app.cfg.network_model().protected_cidr(&target) {
        let _ = write!(
            b,
            "<p>{} is already never blocked ({}).</p>",
            esc(&target.to_string()),
            esc(why)
        );
    }
    let _ = write!(
        b,
        "<p>suriguard will never block or quarantine <strong>{}</strong> again, whatever it does: its alerts are still kept and shown, but no decision is enforced against it. It is added to <code>{}</code>.</p>",
        esc(&target.to_string()),
        esc(&app.cfg.allowlist_file().display().to_string())
    );
    if let Ok((rows, _)) = &listed {
        let inside: Vec<&decisions::Row> = rows
            .iter()
            .filter(|r| {
                target.contains(r.target.addr()) && r.target.prefix_len() >= target.prefix_len()
            })
            .collect();
        if !inside.is_empty() {
            b.push_str("<p>These decisions in force are lifted now:</p><ul>");
            for r in inside {
                let _ = write!(
                    b,
                    "<li>{} {} ({})</li>",
                    esc(&decisions::action_text(r.action, r.limit)),
                    esc(&r.target.to_string()),
                    esc(&r.reason)
                );
            }
            b.push_str("</ul>");
        }
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/allowlist/add\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"target\" value=\"{}\"><input type=\"hidden\" name=\"confirm\" value=\"yes\"><label>Why (kept in the file) <input name=\"note\" maxlength=\"200\"></label> <button>Never block {} again</button></form><p><a href=\"/allowlist\">Cancel</a></p>",
        esc(&csrf),
        esc(&target.to_string()),
        esc(&target.to_string())
    );
    html(StatusCode::OK, layout("Never block this again?", &who, &b))
}

#[derive(Deserialize)]
pub(super) struct ChangeForm {
    #[serde(default)]
    csrf: String,
    target: String,
    /// `yes` from the confirmation page's form: an add without it is refused.
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn add(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let by = match may_change(&app.who(&headers), &form.csrf, peer.ip()) {
        Ok(by) => by,
        Err((status, why)) => return refused(status, why),
    };
    if form.confirm != "yes" {
        return refused(
            StatusCode::BAD_REQUEST,
            "Confirm first: the allowlist's confirmation page says what this changes.",
        );
    }
    let Ok(target) = form.target.trim().parse::<Cidr>() else {
        return refused(StatusCode::BAD_REQUEST, "Not an address or prefix.");
    };
    let a = Arc::clone(&app);
    let who = format!("console:{by}");
    let note: String = form.note.chars().take(200).collect();
    let done = blocking(move || allowlist::add(&a.cfg, target, &note, &who)).await;
    match done {
        Err(e) => refused(StatusCode::CONFLICT, &e.to_string()),
        Ok(a) => {
            tracing::info!(
                "console: {by}: never block {target} again ({} decision(s) lifted)",
                a.lifted.len()
            );
            Redirect::to(&format!(
                "/allowlist?added={}&lifted={}",
                url_part(&target.to_string()),
                a.lifted.len()
            ))
            .into_response()
        }
    }
}

pub(super) async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Form(form): Form<ChangeForm>,
) -> Response {
    let by = match may_change(&app.who(&headers), &form.csrf, peer.ip()) {
        Ok(by) => by,
        Err((status, why)) => return refused(status, why),
    };
    let Ok(target) = form.target.trim().parse::<Cidr>() else {
        return refused(StatusCode::BAD_REQUEST, "Not an address or prefix.");
    };
    let a = Arc::clone(&app);
    let who = format!("console:{by}");
    match blocking(move || allowlist::delete(&a.cfg, target, &who)).await {
        Err(e) => refused(StatusCode::CONFLICT, &e.to_string()),
        Ok(()) => {
            tracing::info!("console: {by}: {target} removed from the allowlist file");
            Redirect::to(&format!(
                "/allowlist?removed={}",
                url_part(&target.to_string())
            ))
            .into_response()
        }
    }
}
