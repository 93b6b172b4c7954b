//! The web console (`suriguardctl serve`) over what a real Suricata run decided, in a
//! network namespace with real nftables: a flooder whose requests name a hostile Host is
//! blocked by the plugin; the console asks for a login (Argon2 hash made by `serve
//! passwd`), refuses a wrong password and then rate-limits, shows the decision with the
//! hostile string escaped, refuses an unblock without the CSRF token (the element stays)
//! and performs one with it (the element is gone, the journal names who); `/metrics`
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
const TOKEN: &str = "t0ken-for-scripts-4f1c9a";

/// `suriguardctl serve passwd` with the password on stdin: the `password-hash = "…"` line.
fn passwd() -> String {
    let mut child = Command::new(bin("suriguardctl"))
        .args(["serve", "passwd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("password-hash = \"$argon2id$"))
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
    scenarios::http_flood_with_host(&pcap, HOSTILE).unwrap();
    let logs = dir.join("logs");
    let console = format!(
        "[network]\nhome-networks = [\"192.168.1.0/24\"]\n[enforce]\ntable = \"suriguard\"\n[console]\n{}\ntoken = {{ env = \"SG_CONSOLE_TOKEN\" }}\n",
        passwd()
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
    assert_eq!(
        b.title(),
        "Overview · suriguard",
        "after login: {}",
        b.url()
    );
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

    // Unblock from the decisions page.
    b.goto("http://127.0.0.1:18789/decisions");
    b.screenshot(&shots.join("console-decisions.png"));
    assert!(in_block_set(&lab, &ns, FLOODER));
    b.click(&b.find("form[action='/decisions/unblock'] button"));
    assert!(b.url().contains("done="), "{}", b.url());
    assert!(
        !in_block_set(&lab, &ns, FLOODER),
        "still blocked after the click"
    );

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
