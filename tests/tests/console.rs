//! The web console (`suriguardctl serve`) over what a real Suricata run decided, in a
//! network namespace with real nftables: a flooder whose requests name a hostile Host is
//! blocked by the plugin; the console asks for a login (Argon2 hash made by `serve
//! passwd`), refuses a wrong password and then rate-limits, shows the decision with the
//! hostile string escaped, refuses an unblock without the CSRF token (the element stays)
//! and performs one with it (the element is gone, the journal names who); "never block
//! this again" only after its confirmation page (the element lifted, the address in the
//! allow set and the allowlist file with who); `/metrics`
//! answers loopback, refuses another address without the token and answers it with the
//! token, and its counters are the plugin's; the same over TLS.
//!
//! HTTP is driven with curl, a client that is not ours.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use suriguard_e2e::netns::{wait_for, Lab};
use suriguard_e2e::prom::Metrics;
use suriguard_e2e::webdriver::Browser;
use suriguard_e2e::{bin, run_suricata, scenarios, workspace_root, RunOptions, SuricataRun};

const HOSTILE: &str = "<script>alert(\"sg\")</script>";
const FLOODER: &str = "203.0.113.50";
const PASSWORD: &str = "correct horse battery";
const VIEWER_PASSWORD: &str = "look but do not touch";
const TOKEN: &str = "t0ken-for-scripts-4f1c9a";

/// `suriguardctl serve passwd` with the password on stdin: the `password-hash = "…"` line.
fn passwd() -> String {
    passwd_line(&["serve", "passwd"], PASSWORD, "password-hash")
}

/// `serve passwd ARGS` fed `password`: the `KEY = "$argon2id$…"` line it prints.
fn passwd_line(args: &[&str], password: &str, key: &str) -> String {
    let mut child = Command::new(bin("suriguardctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = \"$argon2id$")))
        .unwrap_or_else(|| panic!("no hash line in {text}"));
    line.to_owned()
}

/// One curl call in the namespace: (status, body). `args` are curl's.
fn curl(lab: &Lab, ns: &str, dir: &Path, args: &str) -> (u16, String) {
    let body = dir.join("body");
    let _ = std::fs::remove_file(&body);
    let out = lab.try_sh(
        ns,
        &format!(
            "curl -s -k -o {} -w '%{{http_code}}' -b {jar} -c {jar} {args}",
            body.display(),
            jar = dir.join("jar").display()
        ),
    );
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (status, std::fs::read_to_string(&body).unwrap_or_default())
}

fn in_block_set(lab: &Lab, ns: &str, addr: &str) -> bool {
    lab.sh(ns, "nft list set inet suriguard sg_block4")
        .contains(addr)
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_owned()
}

/// Real Suricata in `ns` blocks the flooder whose Host is [`HOSTILE`]; the run and its
/// log directory (where the config, journals and stats are).
fn blocked_flooder(lab: &Lab, ns: &str, dir: &Path) -> (SuricataRun, PathBuf) {
    let pcap = dir.join("flood.pcap");
    scenarios::http_flood_and_a_home_device(&pcap, HOSTILE).unwrap();
    let logs = dir.join("logs");
    let console = format!(
        "[network]\nhome-networks = [\"192.168.1.0/24\"]\n[enforce]\ntable = \"suriguard\"\n[console]\neve-log = {:?}\n{}\n{}\ntoken = {{ env = \"SG_CONSOLE_TOKEN\" }}\n",
        logs.join("eve.json").display().to_string(),
        passwd(),
        passwd_line(&["serve", "passwd", "--viewer"], VIEWER_PASSWORD, "viewer-password-hash")
    );
    let run = run_suricata(
        &pcap,
        &logs,
        &RunOptions {
            netns: Some(ns.to_owned()),
            config: console,
            ..Default::default()
        },
    );
    run.ran.assert_success();
    assert!(
        in_block_set(lab, ns, FLOODER),
        "the plugin did not block the flooder: {:?}",
        run.decisions()
    );
    (run, logs)
}

/// Starts `suriguardctl serve` in `ns` with the token in its environment; its pid.
fn serve(lab: &mut Lab, ns: &str, listen: &str, cfg: &Path, stats: &Path, log: &Path) -> u32 {
    let script = format!(
        "SG_CONSOLE_TOKEN={TOKEN} exec {} --config {} serve --listen {listen} --stats-file {}",
        bin("suriguardctl").display(),
        cfg.display(),
        stats.display()
    );
    lab.spawn(ns, "sh", &["-c", &script], log)
}

#[test]
fn console_login_escaping_csrf_unblock_metrics_and_tls() {
    let mut lab = Lab::new();
    let ns = lab.ns("gw");
    // An address of the namespace that is not loopback.
    lab.sh(
        &ns,
        "ip link add d0 type veth peer name d1 && ip addr add 10.9.9.1/24 dev d0 && ip link set d1 up && ip link set d0 up",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (run, logs) = blocked_flooder(&lab, &ns, dir);
    let cfg = logs.join("suriguard.toml");
    let stats = run.stats_file();

    // The console, in the namespace, on every address.
    let pid = serve(
        &mut lab,
        &ns,
        "0.0.0.0:18787",
        &cfg,
        &stats,
        &dir.join("serve.log"),
    );
    let up = wait_for(Duration::from_secs(10), || {
        curl(&lab, &ns, dir, "http://127.0.0.1:18787/healthz").0 == 200
    });
    assert!(
        up.is_some(),
        "console did not start: {}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
    let base = "http://127.0.0.1:18787";

    // Nothing without a login.
    let (st, _) = curl(&lab, &ns, dir, &format!("{base}/"));
    assert_eq!(st, 303, "overview without a session");
    let (st, _) = curl(&lab, &ns, dir, &format!("{base}/decisions/{FLOODER}"));
    assert_eq!(st, 303, "a decision without a session");

    // /metrics: loopback yes; another address only with the token; the plugin's counters.
    let (st, text) = curl(&lab, &ns, dir, &format!("{base}/metrics"));
    assert_eq!(st, 200);
    Metrics::parse(&text).assert_matches_plugin(&run.plugin_stats());
    let (st, _) = curl(&lab, &ns, dir, "http://10.9.9.1:18787/metrics");
    assert_eq!(
        st, 401,
        "metrics to a non-loopback client without the token"
    );
    let (st, text) = curl(
        &lab,
        &ns,
        dir,
        &format!("-H 'Authorization: Bearer {TOKEN}' http://10.9.9.1:18787/metrics"),
    );
    assert_eq!(st, 200);
    assert!(Metrics::parse(&text).get("suriguard_in_force", &[("set", "block")]) >= 1.0);

    // A wrong password, then the right one.
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data-urlencode password=wrong {base}/login"),
    );
    assert_eq!(st, 401);
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data-urlencode 'password={PASSWORD}' {base}/login"),
    );
    assert_eq!(st, 303, "login");
    let jar = std::fs::read_to_string(dir.join("jar")).unwrap();
    assert!(
        jar.contains("#HttpOnly_") && jar.contains("sg_session"),
        "session cookie not HttpOnly: {jar}"
    );
    let (st, page) = curl(&lab, &ns, dir, &format!("{base}/"));
    assert_eq!(st, 200);
    assert!(
        page.contains("Overview") && page.contains(FLOODER),
        "{page}"
    );

    // The decision's explanation carries the Host the flooder sent, escaped.
    let (st, page) = curl(&lab, &ns, dir, &format!("{base}/decisions/{FLOODER}"));
    assert_eq!(st, 200);
    assert!(
        page.contains("&lt;script&gt;alert(&quot;sg&quot;)&lt;/script&gt;"),
        "hostile host not shown escaped: {page}"
    );
    assert!(!page.contains(HOSTILE), "hostile host shown raw");

    // A viewer sees the pages but changes nothing, even with its own CSRF token.
    let viewer = dir.join("viewer");
    std::fs::create_dir_all(&viewer).unwrap();
    let (st, _) = curl(
        &lab,
        &ns,
        &viewer,
        &format!("--data-urlencode 'password={VIEWER_PASSWORD}' {base}/login"),
    );
    assert_eq!(st, 303, "viewer login");
    let (st, page) = curl(&lab, &ns, &viewer, &format!("{base}/decisions"));
    assert_eq!(st, 200);
    assert!(
        page.contains("viewer@127.0.0.1") && !page.contains(">Unblock</button>"),
        "{page}"
    );
    let viewer_csrf = csrf(&page);
    let (st, _) = curl(
        &lab,
        &ns,
        &viewer,
        &format!("--data target={FLOODER} --data csrf={viewer_csrf} {base}/decisions/unblock"),
    );
    assert_eq!(st, 403, "a viewer unblocked");
    assert!(in_block_set(&lab, &ns, FLOODER));

    // Extend: the element stays, with more time left (`[decisions] ttl`, 3600 s, more).
    let left = |lab: &Lab| -> u64 {
        let ran = lab.try_sh(
            &ns,
            &format!(
                "{} --config {} -o json decisions list",
                bin("suriguardctl").display(),
                cfg.display()
            ),
        );
        let rows: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap_or_default();
        rows.as_array()
            .into_iter()
            .flatten()
            .find(|r| r["target"] == FLOODER && r["action"] == "block")
            .and_then(|r| r["expires_in"].as_u64())
            .unwrap_or_else(|| panic!("no block of {FLOODER} listed: {rows}"))
    };
    let before = left(&lab);
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/decisions"));
    let token = csrf(&page);
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target={FLOODER} {base}/decisions/extend"),
    );
    assert_eq!(st, 403, "extend without CSRF");
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target={FLOODER} --data csrf={token} {base}/decisions/extend"),
    );
    assert_eq!(st, 303, "extend");
    let after = left(&lab);
    assert!(
        after >= before + 3500,
        "not extended in the kernel: {before} s left before, {after} s after"
    );
    assert!(in_block_set(&lab, &ns, FLOODER));

    // An unblock without the CSRF token is refused and changes nothing.
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target={FLOODER} {base}/decisions/unblock"),
    );
    assert_eq!(st, 403, "unblock without CSRF");
    assert!(in_block_set(&lab, &ns, FLOODER));
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/decisions"));
    let token = csrf(&page);
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!(
            "--data target={FLOODER} --data csrf={}x {base}/decisions/unblock",
            &token[..63]
        ),
    );
    assert_eq!(st, 403, "unblock with a wrong CSRF token");
    assert!(in_block_set(&lab, &ns, FLOODER));

    // With it: the element is gone, and the journal says who.
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target={FLOODER} --data csrf={token} {base}/decisions/unblock"),
    );
    assert_eq!(st, 303, "unblock");
    assert!(
        !in_block_set(&lab, &ns, FLOODER),
        "still blocked after unblock"
    );
    let journal = std::fs::read_to_string(logs.join("enforce.jsonl")).unwrap();
    assert!(
        journal.contains("console:admin@127.0.0.1"),
        "the unblock is not journaled with who: {journal}"
    );
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/decisions"));
    let in_force = &page[..page.find("<h2>Journal").expect("journal section")];
    assert!(!in_force.contains(FLOODER), "still listed in force: {page}");

    // A home device: listed, quarantined from its page, released again.
    let (st, page) = curl(&lab, &ns, dir, &format!("{base}/devices"));
    assert_eq!(st, 200);
    assert!(page.contains("192.168.1.30"), "{page}");
    // Its row: 13 flows in eve.json (8 to the cloud, 5 to the home server).
    assert!(
        page.contains("Flows, bytes and alerts are from the last 16 MiB")
            && page.contains("<td>13</td>"),
        "{page}"
    );
    let (st, page) = curl(&lab, &ns, dir, &format!("{base}/devices/192.168.1.30"));
    assert_eq!(st, 200);
    assert!(page.contains(">Quarantine</button>"), "{page}");
    let in_quarantine = |lab: &Lab| {
        lab.sh(&ns, "nft list set inet suriguard sg_quarantine4")
            .contains("192.168.1.30")
    };
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target=192.168.1.30 {base}/devices/quarantine"),
    );
    assert_eq!(st, 403, "quarantine without CSRF");
    assert!(!in_quarantine(&lab));
    let token = csrf(&page);
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target=192.168.1.30 --data csrf={token} {base}/devices/quarantine"),
    );
    assert_eq!(st, 303, "quarantine");
    assert!(in_quarantine(&lab), "not quarantined");
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/devices/192.168.1.30"));
    assert!(page.contains(">Release</button>"), "{page}");
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target=192.168.1.30 --data csrf={token} {base}/devices/release"),
    );
    assert_eq!(st, 303, "release");
    assert!(!in_quarantine(&lab), "still quarantined after release");

    // The flooder's page: its recent traffic from eve.json.
    let (st, page) = curl(&lab, &ns, dir, &format!("{base}/devices/{FLOODER}"));
    assert_eq!(st, 200);
    let traffic = &page[page.find("<h2>Recent traffic").expect("traffic section")..];
    assert!(
        traffic.contains("started by it") && traffic.contains("<td>192.168.1.10</td>"),
        "{traffic}"
    );

    // "Never block this again": blocked again by hand, then allowlisted from the console.
    suriguard_e2e::ctl_in(&ns, &cfg, &["decisions", "add", FLOODER]).assert_success();
    assert!(in_block_set(&lab, &ns, FLOODER));
    let (st, page) = curl(
        &lab,
        &ns,
        dir,
        &format!("{base}/allowlist/confirm?target={FLOODER}"),
    );
    assert_eq!(st, 200);
    assert!(
        page.contains("These decisions in force are lifted") && page.contains("block 203.0.113.50"),
        "{page}"
    );
    let token = csrf(&page);
    // Without the confirmation page's field, or without the CSRF token: nothing happens.
    for (data, want) in [
        (format!("--data target={FLOODER} --data csrf={token}"), 400),
        (format!("--data target={FLOODER} --data confirm=yes"), 403),
    ] {
        let (st, _) = curl(&lab, &ns, dir, &format!("{data} {base}/allowlist/add"));
        assert_eq!(st, want, "{data}");
        assert!(in_block_set(&lab, &ns, FLOODER), "{data}");
    }
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!(
            "--data target={FLOODER} --data csrf={token} --data confirm=yes --data-urlencode 'note=the office VPN' {base}/allowlist/add"
        ),
    );
    assert_eq!(st, 303, "never block");
    assert!(!in_block_set(&lab, &ns, FLOODER), "still blocked");
    let allow = || lab.sh(&ns, "nft list set inet suriguard sg_allow4");
    assert!(allow().contains(FLOODER), "{}", allow());
    let file = std::fs::read_to_string(logs.join("allowlist.txt")).unwrap();
    assert!(
        file.starts_with(&format!("{FLOODER}  # console:admin@127.0.0.1, 20"))
            && file.trim_end().ends_with(": the office VPN"),
        "{file}"
    );
    let o = suriguard_e2e::ctl_in(&ns, &cfg, &["decisions", "add", FLOODER]);
    assert!(!o.success() && o.stderr().contains("allowlisted"), "{o}");
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/allowlist"));
    assert!(page.contains("the office VPN"), "{page}");
    let (_, page) = curl(&lab, &ns, dir, &format!("{base}/devices/{FLOODER}"));
    assert!(page.contains("Never blocked: allowlisted"), "{page}");
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data target={FLOODER} --data csrf={token} {base}/allowlist/delete"),
    );
    assert_eq!(st, 303, "remove from the allowlist");
    assert!(!allow().contains(FLOODER), "{}", allow());

    // Failed logins are limited per client: the sixth try gets 429, even a right one.
    for _ in 0..5 {
        let (st, _) = curl(
            &lab,
            &ns,
            dir,
            "--data-urlencode password=nope http://10.9.9.1:18787/login",
        );
        assert_eq!(st, 401);
    }
    let (st, _) = curl(
        &lab,
        &ns,
        dir,
        &format!("--data-urlencode 'password={PASSWORD}' http://10.9.9.1:18787/login"),
    );
    assert_eq!(st, 429, "login not rate-limited");
    lab.stop(pid, Duration::from_secs(10));

    // TLS: a self-signed certificate; the session cookie is Secure.
    let (crt, key) = (dir.join("c.crt"), dir.join("c.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let tls_cfg = dir.join("tls.toml");
    std::fs::write(
        &tls_cfg,
        format!(
            "{}tls-cert = {:?}\ntls-key = {:?}\n",
            std::fs::read_to_string(&cfg).unwrap(),
            crt.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    let _ = std::fs::remove_file(dir.join("jar"));
    let pid = serve(
        &mut lab,
        &ns,
        "127.0.0.1:18788",
        &tls_cfg,
        &stats,
        &dir.join("serve-tls.log"),
    );
    let up = wait_for(Duration::from_secs(10), || {
        curl(&lab, &ns, dir, "https://127.0.0.1:18788/healthz").0 == 200
    });
    assert!(
        up.is_some(),
        "TLS console did not start: {}",
        std::fs::read_to_string(dir.join("serve-tls.log")).unwrap_or_default()
    );
    let (st, _) = curl(&lab, &ns, dir, "http://127.0.0.1:18788/healthz");
    assert_ne!(st, 200, "plain HTTP answered on the TLS port");
    let out = lab.try_sh(
        &ns,
        &format!(
            "curl -s -k -D - -o /dev/null --data-urlencode 'password={PASSWORD}' https://127.0.0.1:18788/login"
        ),
    );
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(
        head.contains("set-cookie: sg_session=") && head.contains("; secure"),
        "{head}"
    );
    lab.stop(pid, Duration::from_secs(10));
}

/// Where the browser test leaves its screenshots (README's come from here).
fn artefacts() -> PathBuf {
    let d = workspace_root().join("target/browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The same console in real headless Chromium: log in through the form, see the block
/// the plugin made, the hostile Host rendered as text (no dialog opens), unblock from
/// the decisions page (the nftables element is gone); and `analyze --html` of the same
/// capture rendered with its chart. Screenshots in target/browser/.
#[test]
fn console_and_html_report_in_chromium() {
    let mut lab = Lab::new();
    let ns = lab.ns("gw");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (run, logs) = blocked_flooder(&lab, &ns, dir);
    let cfg = logs.join("suriguard.toml");
    let pid = serve(
        &mut lab,
        &ns,
        "127.0.0.1:18789",
        &cfg,
        &run.stats_file(),
        &dir.join("serve.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), || curl(
            &lab,
            &ns,
            dir,
            "http://127.0.0.1:18789/healthz"
        )
        .0 == 200)
        .is_some(),
        "console did not start"
    );
    // The HTML report of the same capture, through Suricata and the plugin again.
    let report = dir.join("report.html");
    let ran = suriguard_e2e::ctl(
        &cfg,
        &[
            "analyze",
            "--pcap",
            dir.join("flood.pcap").to_str().unwrap(),
            "--html",
            report.to_str().unwrap(),
        ],
        &[],
    );
    ran.assert_success();

    let shots = artefacts();
    let b = Browser::start(&lab, &ns, &dir.join("browser"), 9515);
    b.goto("http://127.0.0.1:18789/");
    assert!(
        b.url().ends_with("/login"),
        "not sent to the login: {}",
        b.url()
    );
    let field = b.find("input[name=password]");
    b.type_into(&field, PASSWORD);
    b.click(&b.find("form[action='/login'] button"));
    // The click submits a form: wait for the page it leads to.
    let landed = wait_for(Duration::from_secs(10), || {
        b.title() == "Overview · suriguard"
    });
    assert!(landed.is_some(), "after login: {} {}", b.title(), b.url());
    let body = b.text(&b.find("main"));
    assert!(body.contains(FLOODER), "{body}");
    assert!(b.count("svg rect") >= 24, "no chart on the overview");
    b.screenshot(&shots.join("console-overview.png"));

    // The hostile Host is text on the page, not markup: no dialog, the literal shown.
    b.goto(&format!("http://127.0.0.1:18789/decisions/{FLOODER}"));
    assert!(!b.alert_open(), "the hostile Host ran as script");
    let pre = b.text(&b.find("pre"));
    assert!(pre.contains(HOSTILE), "{pre}");
    assert_eq!(b.count("main script"), 0);
    b.screenshot(&shots.join("console-decision.png"));

    // A home device's page.
    b.goto("http://127.0.0.1:18789/devices/192.168.1.30");
    assert_eq!(b.title(), "Device 192.168.1.30 · suriguard");
    assert!(b.count("table tr") >= 2, "no services listed");
    b.screenshot(&shots.join("console-device.png"));

    b.goto("http://127.0.0.1:18789/decisions");
    b.screenshot(&shots.join("console-decisions.png"));

    // Unblock from the flooder's page.
    b.goto(&format!("http://127.0.0.1:18789/devices/{FLOODER}"));
    let text = b.text(&b.find("main"));
    assert!(text.contains("Recent traffic"), "{text}");
    assert!(in_block_set(&lab, &ns, FLOODER));
    b.click(&b.find("form[action='/decisions/unblock'] button"));
    // The click submits a form: wait for the page it leads to.
    let landed = wait_for(Duration::from_secs(10), || b.url().contains("done="));
    assert!(landed.is_some(), "no redirect after Unblock: {}", b.url());
    assert!(
        !in_block_set(&lab, &ns, FLOODER),
        "still blocked after the click"
    );

    // Blocked again; "Never block this again", confirmed.
    suriguard_e2e::ctl_in(&ns, &cfg, &["decisions", "add", FLOODER]).assert_success();
    b.goto(&format!("http://127.0.0.1:18789/devices/{FLOODER}"));
    b.click(&b.find("a[href^='/allowlist/confirm']"));
    let landed = wait_for(Duration::from_secs(10), || {
        b.title() == "Never block this again? · suriguard"
    });
    assert!(landed.is_some(), "no confirmation page: {}", b.url());
    assert!(
        in_block_set(&lab, &ns, FLOODER),
        "lifted before the confirmation"
    );
    b.screenshot(&shots.join("console-never-block.png"));
    b.click(&b.find("form[action='/allowlist/add'] button"));
    let landed = wait_for(Duration::from_secs(10), || b.url().contains("added="));
    assert!(
        landed.is_some(),
        "no redirect after confirming: {}",
        b.url()
    );
    assert!(!in_block_set(&lab, &ns, FLOODER), "still blocked");
    assert!(lab
        .sh(&ns, "nft list set inet suriguard sg_allow4")
        .contains(FLOODER));

    // The report file renders, with its chart.
    b.goto(&format!("file://{}", report.display()));
    assert_eq!(b.title(), "suriguard analysis");
    assert!(b.count("svg rect") >= 48, "no timeline chart in the report");
    let text = b.text(&b.find("main"));
    assert!(text.contains("block 203.0.113.50"), "{text}");
    b.screenshot(&shots.join("analyze-report.png"));
    drop(b);
    lab.stop(pid, Duration::from_secs(10));
}

/// A signed device request sent with curl in `ns`: (status, answer).
#[allow(clippy::too_many_arguments)]
fn device_post(
    lab: &Lab,
    ns: &str,
    dir: &Path,
    device: &str,
    key: &str,
    ts: i64,
    nonce: &str,
    body: &str,
) -> (u16, String) {
    let sig = suriguard_report::device::sign(key, &ts.to_string(), nonce, body.as_bytes()).unwrap();
    let file = dir.join("device-body.json");
    std::fs::write(&file, body).unwrap();
    curl(
        lab,
        ns,
        dir,
        &format!(
            "-X POST -H 'X-Suriguard-Device: {device}' -H 'X-Suriguard-Timestamp: {ts}' \
             -H 'X-Suriguard-Nonce: {nonce}' -H 'X-Suriguard-Signature: {sig}' \
             --data-binary @{} http://127.0.0.1:18791/api/v1/device-alerts",
            file.display()
        ),
    )
}

fn incidents(cfg: &Path) -> usize {
    let ran = suriguard_e2e::ctl(
        cfg,
        &["-o", "json", "alerts", "list", "--since", "30d"],
        &[],
    );
    ran.assert_success();
    suriguard_e2e::json(&ran).as_array().map_or(0, Vec::len)
}

/// The device alert API: the documented shell client (openssl + curl) gets an alert
/// accepted, an incident stored and the block it asked for enforced in nftables; a wrong
/// signature, a replayed nonce, a stale timestamp, an oversized body, an unknown device,
/// a bad schema and the rate limit are each refused with their status and counted in
/// /metrics, and none of them adds anything to the store; a block of an allowlisted
/// address stays an alert.
#[test]
fn device_alert_api_accepts_signed_alerts_and_refuses_the_rest() {
    let mut lab = Lab::new();
    let ns = lab.ns("gw");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = dir.join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = {:?}\n[network]\nhome-networks = [\"192.168.1.0/24\"]\nallowlist = [\"198.51.100.7\"]\n[enforce]\ntable = \"suriguard\"\n[console]\ndevice-decisions = true\ndevice-rate-limit = 6\ndevice-max-body = 1024\ntoken = {{ env = \"SG_CONSOLE_TOKEN\" }}\n[decisions]\nmax-active = 2\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    let added = suriguard_e2e::ctl(
        &cfg,
        &["-o", "json", "devices", "token", "add", "cam-1"],
        &[],
    );
    added.assert_success();
    let secret = suriguard_e2e::json(&added)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = suriguard_report::device::key_of(&secret);
    let pid = serve(
        &mut lab,
        &ns,
        "127.0.0.1:18791",
        &cfg,
        &dir.join("no-stats.json"),
        &dir.join("serve.log"),
    );
    assert!(
        wait_for(Duration::from_secs(10), || curl(
            &lab,
            &ns,
            dir,
            "http://127.0.0.1:18791/healthz"
        )
        .0 == 200)
        .is_some(),
        "console did not start"
    );

    // The documented client.
    let client = workspace_root().join("scripts/device-alert.sh");
    let out = lab.try_sh(
        &ns,
        &format!(
            "SURIGUARD_DEVICE=cam-1 SURIGUARD_SECRET={secret} {} http://127.0.0.1:18791 \
             '{{\"severity\":1,\"signature\":\"telnet login with factory password\",\"src_ip\":\"203.0.113.9\",\"dest_port\":23,\"block\":true}}'",
            client.display()
        ),
    );
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(answer.trim_end().ends_with("202"), "{answer}");
    assert!(answer.contains("blocked 203.0.113.9"), "{answer}");
    assert!(
        in_block_set(&lab, &ns, "203.0.113.9"),
        "the device's block is not in force"
    );
    assert_eq!(incidents(&cfg), 1);
    let journal = std::fs::read_to_string(dir.join("enforce.jsonl")).unwrap();
    assert!(journal.contains("device-alert:cam-1"), "{journal}");

    // Refusals, each with its status; the store does not change.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ok_body = r#"{"severity":2,"signature":"odd login"}"#;
    let wrong_key = suriguard_report::device::key_of("not the secret");
    // An unknown device and a bad signature read the same to the client
    // (`unauthorized`); the counters tell them apart.
    let cases: Vec<(&str, u16, &str, (u16, String))> = vec![
        (
            "wrong signature",
            401,
            "unauthorized",
            device_post(
                &lab,
                &ns,
                dir,
                "cam-1",
                &wrong_key,
                now,
                "nonce-wrong-sig-0001",
                ok_body,
            ),
        ),
        (
            "stale timestamp",
            401,
            "stale-timestamp",
            device_post(
                &lab,
                &ns,
                dir,
                "cam-1",
                &key,
                now - 1000,
                "nonce-stale-000001",
                ok_body,
            ),
        ),
        (
            "unknown device",
            401,
            "unauthorized",
            device_post(
                &lab,
                &ns,
                dir,
                "cam-9",
                &key,
                now,
                "nonce-unknown-0001",
                ok_body,
            ),
        ),
        (
            "oversized body",
            413,
            "too-large",
            device_post(
                &lab,
                &ns,
                dir,
                "cam-1",
                &key,
                now,
                "nonce-big-00000001",
                &format!(r#"{{"severity":2,"signature":"{}"}}"#, "x".repeat(2000)),
            ),
        ),
        (
            "bad schema",
            422,
            "bad-alert",
            device_post(
                &lab,
                &ns,
                dir,
                "cam-1",
                &key,
                now,
                "nonce-schema-00001",
                r#"{"severity":9,"signature":"x"}"#,
            ),
        ),
    ];
    for (what, status, error, (got, body)) in &cases {
        assert_eq!(got, status, "{what}: {body}");
        assert!(body.contains(error), "{what}: {body}");
    }
    assert_eq!(incidents(&cfg), 1, "a refused request reached the store");
    // Not even its nonce: the bad-schema request's nonce still works with a good body.
    let (st, body) = device_post(
        &lab,
        &ns,
        dir,
        "cam-1",
        &key,
        now,
        "nonce-schema-00001",
        ok_body,
    );
    assert_eq!(st, 202, "the refused request's nonce was kept: {body}");
    assert_eq!(incidents(&cfg), 2);

    // A good one, then its replay.
    let (st, body) = device_post(
        &lab,
        &ns,
        dir,
        "cam-1",
        &key,
        now,
        "nonce-good-0000001",
        ok_body,
    );
    assert_eq!(st, 202, "{body}");
    let (st, body) = device_post(
        &lab,
        &ns,
        dir,
        "cam-1",
        &key,
        now,
        "nonce-good-0000001",
        ok_body,
    );
    assert_eq!((st, body.contains("replayed-nonce")), (409, true), "{body}");
    assert_eq!(incidents(&cfg), 3);

    // A block of an allowlisted address stays an alert.
    let (st, body) = device_post(
        &lab,
        &ns,
        dir,
        "cam-1",
        &key,
        now,
        "nonce-allowlisted1",
        r#"{"severity":1,"signature":"scan","src_ip":"198.51.100.7","block":true}"#,
    );
    assert_eq!(st, 202, "{body}");
    assert!(body.contains("refused"), "{body}");
    assert!(!in_block_set(&lab, &ns, "198.51.100.7"));

    // The cap on decisions in force counts the CLI's (and the plugin's) too: with the
    // device's block and one by hand, max-active = 2 is reached.
    suriguard_e2e::ctl_in(&ns, &cfg, &["decisions", "add", "203.0.113.99"]).assert_success();
    let (st, body) = device_post(
        &lab,
        &ns,
        dir,
        "cam-1",
        &key,
        now,
        "nonce-over-the-cap",
        r#"{"severity":1,"signature":"scan","src_ip":"203.0.113.10","block":true}"#,
    );
    assert_eq!(st, 202, "{body}");
    assert!(body.contains("max-active is 2"), "{body}");
    assert!(!in_block_set(&lab, &ns, "203.0.113.10"));

    // The rate limit (6 a minute per device): a burst of 13 gets refused at least once
    // even if a minute starts during it.
    let mut limited = 0;
    for k in 0..13 {
        let (st, _) = device_post(
            &lab,
            &ns,
            dir,
            "cam-1",
            &key,
            now,
            &format!("nonce-rate-{k:08}"),
            ok_body,
        );
        if st == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 1, "no request was rate-limited");

    // The alerts page lists the device's alert; its page gives the built-in advice.
    let bearer = format!("-H 'Authorization: Bearer {TOKEN}'");
    let (st, page) = curl(
        &lab,
        &ns,
        dir,
        &format!("{bearer} 'http://127.0.0.1:18791/alerts?severity=1&q=factory'"),
    );
    assert_eq!(st, 200);
    assert!(
        page.contains("device cam-1: telnet login with factory password"),
        "{page}"
    );
    assert!(
        !page.contains("odd login"),
        "severity 2 shown under severity ≤ 1: {page}"
    );
    let needle = "href=\"/alerts/";
    let at = page.find(needle).expect("a link to the incident") + needle.len();
    let id: String = page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (st, page) = curl(
        &lab,
        &ns,
        dir,
        &format!("{bearer} http://127.0.0.1:18791/alerts/{id}"),
    );
    assert_eq!(st, 200);
    assert!(
        page.contains("What to do") && page.contains("<ol><li>"),
        "{page}"
    );

    // /metrics counts every outcome.
    let (st, text) = curl(&lab, &ns, dir, "http://127.0.0.1:18791/metrics");
    assert_eq!(st, 200);
    let m = Metrics::parse(&text);
    for outcome in [
        "bad-signature",
        "stale-timestamp",
        "unknown-device",
        "too-large",
        "bad-alert",
        "replayed-nonce",
    ] {
        assert_eq!(
            m.get("suriguard_device_alerts_total", &[("outcome", outcome)]),
            1.0,
            "{outcome}"
        );
    }
    assert!(
        m.get(
            "suriguard_device_alerts_total",
            &[("outcome", "rate-limited")]
        ) >= 1.0
    );
    assert!(m.get("suriguard_device_alerts_total", &[("outcome", "accepted")]) >= 3.0);
    lab.stop(pid, Duration::from_secs(10));
}
