//! rulesync against the real feeds and documents in `../shared/data`, poisoned input,
//! and a generated rule file that `suricata -T` refuses. Every test whose runs validate
//! with the real `suricata -T` runs once on Suricata 7.0 and once on 8.0.

use std::path::{Path, PathBuf};

use serde_json::Value;
use suriguard_e2e::servers::{PyServer, MISP_KEY};
use suriguard_e2e::{
    json, report_source as source, rulesync, shared_data, workspace_root, Ran, Suricata,
};

fn run(cfg: &Path, args: &[&str]) -> Ran {
    rulesync(cfg, args, &[])
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    write_config_as(dir, "rulesync.toml", body)
}

/// `body` with a `[suricata]` table (after everything else) that has rulesync validate
/// with `suricata`.
fn on(suricata: Suricata, body: &str) -> String {
    format!(
        "{body}\n[suricata]\nbinary = \"{}\"\n",
        suricata.program().display()
    )
}

fn write_config_as(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    let head = format!(
        "output-dir = \"{out}\"\nstate-dir = \"{state}\"\n",
        out = dir.join("out").display(),
        state = dir.join("state").display()
    );
    std::fs::write(&p, head + body).unwrap();
    p
}

/// A `[[source]]` table reading `path` (a directory: its files ending in `suffix`).
fn file_source(name: &str, ty: &str, path: &Path, suffix: Option<&str>) -> String {
    let mut s = format!(
        "[[source]]\nname = \"{name}\"\ntype = \"{ty}\"\npath = \"{}\"\n",
        path.display()
    );
    if let Some(x) = suffix {
        s += &format!("suffix = \"{x}\"\n");
    }
    s
}

/// A source's (offered, accepted, rejects) in a run report; the source must have
/// succeeded.
fn counts(rep: &Value, name: &str) -> (u64, u64, Value) {
    let s = source(rep, name);
    assert_eq!(s["ok"], true, "{name}: {s}");
    (
        s["offered"].as_u64().unwrap(),
        s["accepted"].as_u64().unwrap(),
        s["rejects"].clone(),
    )
}

/// Every real feed and document in the shared data, one source each (directories where
/// the data set has several files), pulled in one dry run.
#[test]
fn every_shared_feed_and_document_parses_with_known_counts() {
    let d = shared_data();
    let tmp = tempfile::tempdir().unwrap();
    let src = |name: &str, ty: &str, path: PathBuf, suffix: Option<&str>| {
        file_source(name, ty, &path, suffix)
    };
    let oi = d.join("stix/stix1-openioc/openioc-to-stix");
    let ms = d.join("stix/stix1-openioc/misp-stix");
    let body = [
        src("infoblox", "misp-feed", d.join("misp/feeds/infoblox"), None),
        src("stix21", "stix2", d.join("stix/stix21"), None),
        src("misp-stix21", "stix2", ms.clone(), Some("stix21.json")),
        src("stix1", "stix1", oi.clone(), Some(".stix.xml")),
        src("misp-stix1", "stix1", ms, Some(".xml")),
        src(
            "pymisp-stix1",
            "stix1",
            d.join("misp/pymisp/stix1.xml-utf8"),
            None,
        ),
        src("openioc", "openioc", oi.clone(), Some(".ioc")),
        src("openioc-xml", "openioc", oi, Some(".ioc.xml")),
        src(
            "cowrie",
            "cowrie",
            d.join("cowrie/cowrie.json.2018-05-06"),
            None,
        ),
    ]
    .concat();
    let cfg = write_config(tmp.path(), &body);
    let r = run(&cfg, &["run", "--dry-run", "-o", "json"]);
    r.assert_success();
    let rep = json(&r);
    let counts = |name: &str| counts(&rep, name);
    // The Infoblox feed: 46 events in manifest.json, 35 of them in the data set; 12,530
    // to_ids attributes: 12,179 domains, 179 URLs, 110 ip-dst, 30 sha256, 1
    // filename|sha256, 31 email-src.
    let (offered, accepted, rejects) = counts("infoblox");
    assert_eq!(rejects["unavailable"], 11, "{rejects}");
    assert_eq!(rejects["unsupported-type:email-src"], 31, "{rejects}");
    assert_eq!(offered, 12_530 + 11);
    assert_eq!(
        offered - accepted,
        rejects
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
    );
    assert!(accepted > 12_400, "{accepted}");
    // STIX 2.1: APT1's four /15 networks are too broad, its x509 AND patterns name no
    // value we compile, the two e-mail MATCHES patterns cannot be matched value by
    // value, 10.0.0.0 is private.
    let (_, accepted, rejects) = counts("stix21");
    assert_eq!(rejects["prefix-too-broad"], 4, "{rejects}");
    assert_eq!(
        rejects["unsupported:stix AND without a value"], 2,
        "{rejects}"
    );
    assert_eq!(
        rejects["unsupported:stix operator other than ="], 2,
        "{rejects}"
    );
    assert_eq!(rejects["warninglist:private-networks"], 2, "{rejects}");
    assert_eq!(accepted, 71, "{rejects}");
    // misp-stix's collections name circl.lu (a top domain), twice alone and twice with
    // what it resolves to (the domain is the value).
    let (_, accepted, rejects) = counts("misp-stix21");
    assert_eq!(accepted, 0);
    assert_eq!(rejects["warninglist:top-domains"], 4, "{rejects}");
    let (offered, accepted, _) = counts("stix1");
    assert_eq!((offered, accepted), (3, 3));
    let (_, _, rejects) = counts("misp-stix1");
    assert_eq!(rejects["warninglist:top-domains"], 5, "{rejects}");
    let (offered, _, _) = counts("pymisp-stix1");
    assert!(offered > 0, "PyMISP's STIX 1 export offered nothing");
    // The OpenIOC file from iocbucket uses `contains` everywhere: its 14 network items
    // are refused, each counted under its item type, beside the 22 host items (file
    // names, processes, e-mail) that are not network indicators at all.
    let (offered, accepted, rejects) = counts("openioc");
    assert_eq!((offered, accepted), (36, 0));
    for (item, n) in [
        ("Network/DNS", 5),
        ("DnsEntryItem/RecordName", 5),
        ("PortItem/remoteIP", 3),
        ("Network/URI", 1),
    ] {
        assert_eq!(
            rejects[format!("unsupported:openioc condition contains:{item}")],
            n,
            "{rejects}"
        );
    }
    assert_eq!(
        rejects["unsupported-type:openioc:FileItem/FileName"], 8,
        "{rejects}"
    );
    // The seven .ioc.xml documents (Zeus, Stuxnet, Duqu, ...): four network items
    // compiled, 129 host items counted.
    let (offered, accepted, _) = counts("openioc-xml");
    assert_eq!((offered, accepted), (133, 4));
    // Cowrie: three sources logged in or ran commands; the rest only connected.
    let (offered, accepted, _) = counts("cowrie");
    assert_eq!((offered, accepted), (3, 3));

    // A dry run writes nothing.
    assert!(!tmp.path().join("out").exists());
    assert!(!tmp.path().join("state/rulesync-state.json").exists());
}

/// Intelligence in the shapes it is really published in (tests/data/intel/, written for
/// these shapes): STIX 2.0 and 2.1 bundles whose patterns qualify one object with `AND`
/// (a vendor's thousands of `dst_ref.type = 'ipv4-addr' AND dst_ref.value = ...`), and
/// MISP events in a file, wrapped, bare, listed, or as a restSearch `response`. Exact
/// counts, and the provenance each source keeps.
#[test]
fn stix_conjunctions_and_misp_event_files_as_published() {
    let tmp = tempfile::tempdir().unwrap();
    let data = workspace_root().join("tests/data/intel");
    let src = |name: &str, ty: &str, path: PathBuf| file_source(name, ty, &path, None);
    let body = [
        src("stix20", "stix2", data.join("stix20-bruteforce.json")),
        src("stix21", "stix2", data.join("stix21-bruteforce.json")),
        src(
            "wrapped",
            "misp-event",
            data.join("misp-event-wrapped.json"),
        ),
        src("list", "misp-event", data.join("misp-events-list.json")),
        src(
            "response",
            "misp-event",
            data.join("misp-events-response.json"),
        ),
        // A real event as PyMISP's tests keep it: bare, no wrapper.
        src(
            "bare",
            "misp-event",
            shared_data().join("misp/pymisp/existing_event.json"),
        ),
        "[suricata]\nvalidate = false\n".to_owned(),
    ]
    .concat();
    let cfg = write_config(tmp.path(), &body);
    let r = run(&cfg, &["run", "-o", "json"]);
    r.assert_success();
    let rep = json(&r);
    let counts = |name: &str| counts(&rep, name);
    // STIX 2.0 (spec_version on the bundle): four type-qualified references (IPv4
    // destination twice, IPv6, an IPv4 source), a domain with what it resolves to and a
    // two-member IN: 7 values. Refused: a type contradicting its value, an address AND a
    // domain, an address only on port 22, two observations together, a revoked one.
    let (offered, accepted, rejects) = counts("stix20");
    assert_eq!((offered, accepted), (12, 7), "{rejects}");
    assert_eq!(
        rejects,
        serde_json::json!({
            "invalid": 1,
            "expired": 1,
            "unsupported:stix AND over different objects": 1,
            "unsupported:stix AND over different properties": 1,
            "unsupported:stix AND of observations": 1,
        })
    );
    // STIX 2.1: two qualified addresses joined by OR, a destination typed as a domain, a
    // grouped pattern with one consistent and one contradictory alternative, a hash
    // with START/STOP: 5 values. Refused: the contradiction, FOLLOWEDBY, a file by two
    // hashes at once, one past its valid_until.
    let (offered, accepted, rejects) = counts("stix21");
    assert_eq!((offered, accepted), (9, 5), "{rejects}");
    assert_eq!(
        rejects,
        serde_json::json!({
            "expired": 1,
            "unsupported:stix AND of two values": 1,
            "unsupported:stix AND over different properties": 1,
            "unsupported:stix FOLLOWEDBY": 1,
        })
    );
    // One event: 5 to_ids attributes offered (one in an object; not to_ids and deleted
    // ones are not offered), one refused by the warninglist hit MISP reported with it,
    // one of a type we do not compile.
    let wrapped = serde_json::json!({
        "unsupported-type:email-src": 1,
        "warninglist:List of known Cloudflare IP ranges": 1,
    });
    let (offered, accepted, rejects) = counts("wrapped");
    assert_eq!((offered, accepted, &rejects), (5, 3, &wrapped));
    // A list of a wrapped and a bare event.
    let (offered, accepted, rejects) = counts("list");
    assert_eq!(
        (offered, accepted, &rejects),
        (4, 4, &serde_json::json!({}))
    );
    // The same three events as a restSearch answer: the sum.
    let (offered, accepted, rejects) = counts("response");
    assert_eq!((offered, accepted, &rejects), (9, 7, &wrapped));
    let (offered, accepted, rejects) = counts("bare");
    assert_eq!((offered, accepted), (83, 68), "{rejects}");

    // Provenance: the STIX indicator's id, bundle, labels and validity; the MISP
    // attribute's event, object attribute UUID and the event's tags.
    let look = |v: &str| -> Value {
        let r = run(&cfg, &["lookup", v, "-o", "json"]);
        r.assert_success();
        json(&r)
    };
    let l = look("45.95.147.236");
    let m = &l[0]["sources"]["stix20"];
    assert_eq!(l[0]["sides"]["dst"], true, "{l}");
    assert_eq!(
        m["attributes"][0],
        "indicator--00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        m["events"][0],
        "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"
    );
    assert_eq!(m["tags"][0], "malicious-activity");
    assert_eq!(m["valid_from"], "2024-03-01T10:00:00.000Z");
    let l = look("5.188.206.15");
    assert_eq!(
        l[0]["sources"]["stix21"]["valid_until"], "2099-01-01T00:00:00Z",
        "{l}"
    );
    assert_eq!(look("141.98.10.63")[0]["sides"]["src"], true);
    assert_eq!(look("c2.bad-update.top")[0]["kind"], "domain");
    let l = look("193.35.18.49");
    for name in ["wrapped", "response"] {
        let m = &l[0]["sources"][name];
        assert_eq!(
            m["events"][0], "a1c0ffee-0000-4000-8000-000000000001",
            "{l}"
        );
        assert_eq!(
            m["attributes"][0], "a1c0ffee-0000-4000-8000-000000000202",
            "{l}"
        );
        assert!(
            m["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "tlp:white"),
            "{l}"
        );
    }
}

/// MISP's default feed list (the shared copy of MISP's feed-metadata/defaults.json):
/// listed with rulesync's source type for each, and one feed turned into a source table
/// appended to a working configuration, which rulesync then reads.
#[test]
fn misp_default_feeds_are_listed_and_enabled_as_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let list = shared_data().join("misp/misp-core/feed-metadata-defaults.json");
    let from = list.to_str().unwrap();
    // No configuration is needed to list.
    let missing = tmp.path().join("none.toml");
    let r = run(&missing, &["feeds", "list", "--from", from, "-o", "json"]);
    r.assert_success();
    let feeds = json(&r);
    let feeds = feeds.as_array().unwrap();
    assert_eq!(feeds.len(), 84);
    let count = |ty: &str| feeds.iter().filter(|f| f["source_type"] == ty).count();
    assert_eq!(
        (count("misp-feed"), count("csv"), count("text")),
        (7, 42, 35)
    );
    let circl = feeds
        .iter()
        .find(|f| f["name"] == "CIRCL OSINT Feed")
        .expect("CIRCL's feed is listed");
    assert_eq!(circl["url"], "https://www.circl.lu/doc/misp/feed-osint");
    let r = run(&missing, &["feeds", "list", "--from", from]);
    r.assert_success();
    assert!(String::from_utf8_lossy(&r.output.stdout).contains("CIRCL OSINT Feed"));

    // Enable three, one of each format, into a configuration that already has a source.
    let cfg = write_config(
        tmp.path(),
        &format!(
            "[[source]]\nname = \"local\"\ntype = \"text\"\npath = \"{}\"\n",
            tmp.path().join("local.txt").display()
        ),
    );
    let csv = feeds.iter().find(|f| f["source_type"] == "csv").unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in ["CIRCL OSINT Feed", csv.as_str(), "ELLIO"] {
        let r = run(
            &cfg,
            &[
                "feeds",
                "enable",
                name,
                "--from",
                from,
                "--to",
                cfg.to_str().unwrap(),
            ],
        );
        r.assert_success();
    }
    let text = std::fs::read_to_string(&cfg).unwrap();
    let parsed: toml::Value = toml::from_str(&text).expect("the tables are TOML");
    let sources = parsed["source"].as_array().unwrap();
    let types: Vec<&str> = sources
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["text", "misp-feed", "csv", "text"], "{text}");
    assert_eq!(sources[1]["name"].as_str(), Some("circl-osint-feed"));
    assert!(sources[2]["column"].as_integer().is_some(), "{text}");
    // rulesync reads the configuration it wrote (nothing is fetched by `status`).
    let r = run(&cfg, &["status", "-o", "json"]);
    r.assert_success();
    // A name that fits several feeds, or none, is an error that says so.
    let r = run(&cfg, &["feeds", "enable", "feed", "--from", from]);
    assert_eq!(r.output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&r.output.stderr).contains("feeds:"),
        "{r}"
    );
}

/// Poisoned values are refused with their reason and never reach a compiled file; what
/// is good in the same list is compiled and validated by the real `suricata -T`.
#[test]
fn poisoned_indicators_are_rejected_and_counted_on_suricata_7() {
    poisoned_indicators_are_rejected_and_counted(Suricata::V7);
}

#[test]
fn poisoned_indicators_are_rejected_and_counted_on_suricata_8() {
    poisoned_indicators_are_rejected_and_counted(Suricata::V8);
}

fn poisoned_indicators_are_rejected_and_counted(suricata: Suricata) {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    let long = format!("{}.com", "a".repeat(496));
    let mut text = format!(
        "# poisoned\n0.0.0.0/0\n8.8.8.8\ngoogle.com\nlocalhost\n203.0.113.9:8080\n45.9.148.9:80\n{long}\n"
    )
    .into_bytes();
    text.extend_from_slice(b"bad\xff\xfeutf8.com\n");
    text.extend_from_slice(b"# good\n45.9.148.108\ncomalign.pro\nhttp://evil-site.xyz/gate.php\n");
    std::fs::write(&list, text).unwrap();
    let csv = tmp.path().join("list.csv");
    std::fs::write(
        &csv,
        "id,value,note\n1,\"ns1.comalign.pro\",c2\n2,127.0.0.1,loop\n3,2001:4860:4860::8888,dns\n",
    )
    .unwrap();
    let cfg = write_config(
        tmp.path(),
        &on(suricata, &format!(
            "[[source]]\nname = \"list\"\ntype = \"text\"\npath = \"{}\"\n[[source]]\nname = \"csv\"\ntype = \"csv\"\npath = \"{}\"\ncolumn = 2\nheader = true\n",
            list.display(),
            csv.display()
        )),
    );
    let r = run(&cfg, &["run", "-o", "json"]);
    r.assert_success();
    let rep = json(&r);
    let s = source(&rep, "list");
    let rejects = &s["rejects"];
    assert_eq!(rejects["prefix-too-broad"], 1, "{s}");
    assert_eq!(rejects["warninglist:public-dns-resolvers"], 1, "{s}");
    assert_eq!(rejects["warninglist:top-domains"], 1, "{s}");
    assert_eq!(rejects["invalid"], 1, "localhost: {s}");
    assert_eq!(rejects["has-port"], 2, "{s}");
    assert_eq!(rejects["too-long"], 1, "{s}");
    assert_eq!(rejects["not-text"], 1, "{s}");
    assert_eq!(s["accepted"], 3, "{s}");
    let c = source(&rep, "csv");
    assert_eq!(c["accepted"], 1, "{c}");
    assert_eq!(c["rejects"]["warninglist:loopback"], 1, "{c}");
    assert_eq!(c["rejects"]["warninglist:public-dns-resolvers"], 1, "{c}");

    let out = tmp.path().join("out");
    // What the generation holds, read back as rulesync reads it (base64 lines on 7.0,
    // datajson objects on 8.0), and the rule file (networks live in the rules).
    let compiled = suriguard_intel::Compiled::read(&out).unwrap();
    assert_eq!(compiled.context, suricata == Suricata::V8);
    let values = |set: &str| -> Vec<&str> {
        compiled.sets[set]
            .values
            .iter()
            .map(String::as_str)
            .collect()
    };
    let rules = std::fs::read_to_string(out.join("suriguard.rules")).unwrap();
    let long = long.as_str();
    for bad in [
        "0.0.0.0",
        "8.8.8.8",
        "2001:4860:4860::8888",
        "127.0.0.1",
        "203.0.113.9",
        "45.9.148.9",
        "google.com",
        "localhost",
        long,
    ] {
        assert!(
            compiled.sets.values().all(|s| !s.values.contains(bad)) && !rules.contains(bad),
            "{bad} was compiled"
        );
    }
    assert_eq!(
        values("suriguard-domains"),
        ["comalign.pro", "ns1.comalign.pro"]
    );
    assert_eq!(values("suriguard-ip-dst-v4"), ["45.9.148.108"]);
    assert_eq!(values("suriguard-url-paths"), ["/gate.php"]);
    let domains = std::fs::read_to_string(out.join("domains.lst")).unwrap();
    match suricata {
        // Suricata 7's string datasets hold base64.
        Suricata::V7 => assert_eq!(domains, "Y29tYWxpZ24ucHJv\nbnMxLmNvbWFsaWduLnBybw==\n"),
        // Suricata 8's datajson: one object per value, the value as text, its provenance.
        Suricata::V8 => assert_eq!(
            domains,
            "{\"value\":\"comalign.pro\",\"sources\":[\"list\"],\"info\":\"list\"}\n\
             {\"value\":\"ns1.comalign.pro\",\"sources\":[\"csv\"],\"info\":\"csv\"}\n"
        ),
    }

    // Provenance: the domain's source and the lookup command agree.
    let l = run(&cfg, &["lookup", "NS1.comalign.pro.", "-o", "json"]);
    l.assert_success();
    let found = json(&l);
    assert_eq!(found[0]["kind"], "domain", "{found}");
    assert!(found[0]["sources"]["csv"].is_object(), "{found}");
}

/// A generated rule file that `suricata -T` refuses leaves the files in force and the
/// state as they were; the run exits non-zero with Suricata's reason.
#[test]
fn a_rule_file_suricata_refuses_changes_nothing_on_suricata_7() {
    a_rule_file_suricata_refuses_changes_nothing(Suricata::V7);
}

#[test]
fn a_rule_file_suricata_refuses_changes_nothing_on_suricata_8() {
    a_rule_file_suricata_refuses_changes_nothing(Suricata::V8);
}

fn a_rule_file_suricata_refuses_changes_nothing(suricata: Suricata) {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, "45.9.148.108\n").unwrap();
    let body = on(
        suricata,
        &format!(
            "[[source]]\nname = \"list\"\ntype = \"text\"\npath = \"{}\"\n",
            list.display()
        ),
    );
    let cfg = write_config(tmp.path(), &body);
    run(&cfg, &["run"]).assert_success();
    let out = tmp.path().join("out");
    let gen1 = std::fs::read_link(&out).unwrap();
    let rules1 = std::fs::read_to_string(out.join("suriguard.rules")).unwrap();
    let state1 = std::fs::read(tmp.path().join("state/rulesync-state.json")).unwrap();

    std::fs::write(&list, "45.9.148.108\n45.9.148.109\n").unwrap();
    let bad = write_config_as(
        tmp.path(),
        "bad.toml",
        &format!("extra-rule-options = \"nosuchkeyword:1;\"\n{body}"),
    );
    let r = run(&bad, &["run"]);
    assert!(!r.success(), "{r}");
    assert!(r.stderr().contains("suricata -T refused"), "{r}");
    assert!(
        r.stderr().contains("nosuchkeyword"),
        "Suricata's reason is shown: {r}"
    );
    assert_eq!(std::fs::read_link(&out).unwrap(), gen1);
    assert_eq!(
        std::fs::read_to_string(out.join("suriguard.rules")).unwrap(),
        rules1
    );
    let ips = suriguard_intel::Compiled::read(&out).unwrap();
    assert_eq!(
        ips.sets["suriguard-ip-dst-v4"]
            .values
            .iter()
            .collect::<Vec<_>>(),
        ["45.9.148.108"]
    );
    assert_eq!(
        std::fs::read(tmp.path().join("state/rulesync-state.json")).unwrap(),
        state1
    );
    // Only the generation in force is left.
    let gens: Vec<_> = std::fs::read_dir(tmp.path().join(".out.gen"))
        .unwrap()
        .collect();
    assert_eq!(gens.len(), 1);

    // The same change with a good configuration goes through.
    let r = run(&cfg, &["run", "-o", "json"]);
    r.assert_success();
    // A plain list does not say which way: the address goes to the ip.src and ip.dst sets.
    assert_eq!(
        json(&r)["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["added"].as_u64().unwrap())
            .sum::<u64>(),
        2
    );
    let ips = suriguard_intel::Compiled::read(&out).unwrap();
    assert_eq!(
        ips.sets["suriguard-ip-dst-v4"]
            .values
            .iter()
            .collect::<Vec<_>>(),
        ["45.9.148.108", "45.9.148.109"]
    );
}

/// Full pull paged to the end, then incremental pulls by timestamp; every request is
/// valid against MISP's openapi.yaml; 403, 500, an HTML error page, a truncated body and
/// a timeout each fail the source with a clear reason and keep its indicators.
#[test]
fn misp_rest_api_paged_incremental_and_failures_on_suricata_7() {
    misp_rest_api_paged_incremental_and_failures(Suricata::V7);
}

#[test]
fn misp_rest_api_paged_incremental_and_failures_on_suricata_8() {
    misp_rest_api_paged_incremental_and_failures(Suricata::V8);
}

fn misp_rest_api_paged_incremental_and_failures(suricata: Suricata) {
    let tmp = tempfile::tempdir().unwrap();
    let misp = PyServer::misp(tmp.path());
    let body = on(suricata, &format!(
        "[[source]]\nname = \"misp\"\ntype = \"misp\"\nurl = \"http://127.0.0.1:{}\"\napi-key-env = \"SG_TEST_MISP_KEY\"\npage-size = 1000\ntimeout-secs = 2\nfull-pull-hours = 1000\n",
        misp.port
    ));
    let cfg = write_config(tmp.path(), &body);
    let run_misp = |args: &[&str]| rulesync(&cfg, args, &[("SG_TEST_MISP_KEY", MISP_KEY)]);

    let r = run_misp(&["run", "-o", "json"]);
    r.assert_success();
    let rep = json(&r);
    let s = source(&rep, "misp");
    assert_eq!(s["pull"], "full", "{s}");
    let reqs = misp.take_requests();
    for q in &reqs {
        assert_eq!(
            q["errors"],
            Value::Array(vec![]),
            "request not valid against openapi.yaml: {q}"
        );
        assert_eq!(q["auth_ok"], true);
        assert_eq!(q["body"]["to_ids"], true);
        assert_eq!(q["body"]["published"], true);
        assert_eq!(q["body"]["enforceWarninglist"], true);
        assert!(
            q["body"].get("timestamp").is_none(),
            "a full pull has no timestamp: {q}"
        );
    }
    let pages: Vec<u64> = reqs
        .iter()
        .map(|q| q["body"]["page"].as_u64().unwrap())
        .collect();
    assert!(
        pages.len() >= 13,
        "12,500+ attributes in pages of 1,000: {pages:?}"
    );
    assert_eq!(pages, (1..=pages.len() as u64).collect::<Vec<_>>());
    let offered = s["offered"].as_u64().unwrap();
    assert!(offered > 12_500 && offered < 13_000 + 1000, "{s}");
    assert!(s["accepted"].as_u64().unwrap() > 12_400, "{s}");
    let domains = std::fs::read_to_string(tmp.path().join("out/domains.lst")).unwrap();
    let state: Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("state/rulesync-state.json")).unwrap(),
    )
    .unwrap();
    let cursor = state["sources"]["misp"]["cursor"]
        .as_i64()
        .expect("cursor saved");
    // The event in the data with the newest attribute timestamps.
    assert!(cursor > 1_700_000_000, "{cursor}");
    // Provenance names the MISP event and attribute.
    let l = run_misp(&["lookup", "comalign.pro", "-o", "json"]);
    l.assert_success();
    let m = &json(&l)[0]["sources"]["misp"];
    assert_eq!(
        m["events"][0], "0dbb179a-1c8c-4e7c-a264-2440414dbac8",
        "{m}"
    );
    assert_eq!(
        m["attributes"][0], "77084a53-a024-43cb-8881-c8a715bf9de3",
        "{m}"
    );

    // Incremental: only what changed since the cursor.
    let r = run_misp(&["run", "-o", "json"]);
    r.assert_success();
    let rep = json(&r);
    assert_eq!(source(&rep, "misp")["pull"], "incremental");
    assert_eq!(rep["applied"], "unchanged", "{rep}");
    let reqs = misp.take_requests();
    assert!(!reqs.is_empty());
    for q in &reqs {
        assert_eq!(q["body"]["timestamp"], cursor.to_string(), "{q}");
        assert_eq!(q["errors"], Value::Array(vec![]), "{q}");
    }
    assert!(source(&rep, "misp")["offered"].as_u64().unwrap() < 1000);

    // Failures: the source fails with its reason, the indicators stay.
    for (mode, reason) in [
        ("403", "refused the API key"),
        ("500", "HTTP 500"),
        ("html", "HTTP 502"),
        ("truncated", "not a MISP attribute search answer"),
        ("slow", "timed out"),
    ] {
        misp.set_mode(mode);
        let r = run_misp(&["run", "-o", "json"]);
        assert_eq!(r.output.status.code(), Some(1), "{mode}: {r}");
        let rep = json(&r);
        let s = source(&rep, "misp");
        assert_eq!(s["ok"], false, "{mode}: {s}");
        assert!(s["error"].as_str().unwrap().contains(reason), "{mode}: {s}");
        assert!(
            r.stderr().contains("previous indicators were kept"),
            "{mode}: {r}"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("out/domains.lst")).unwrap(),
            domains,
            "{mode}"
        );
        let st = run_misp(&["status", "-o", "json"]);
        let sv = json(&st);
        assert!(
            sv["sources"]["misp"]["last_error"]
                .as_str()
                .unwrap()
                .contains(reason),
            "{sv}"
        );
        assert!(sv["indicators"].as_u64().unwrap() > 12_000);
    }

    // A key file others can read is refused before anything is sent.
    misp.set_mode("ok");
    let key = tmp.path().join("misp.key");
    std::fs::write(&key, MISP_KEY).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let keyed = write_config_as(
        tmp.path(),
        "keyfile.toml",
        &body.replace(
            "api-key-env = \"SG_TEST_MISP_KEY\"",
            &format!("api-key-file = \"{}\"", key.display()),
        ),
    );
    misp.take_requests();
    let r = run(&keyed, &["run", "-o", "json"]);
    assert!(!r.success());
    assert!(
        source(&json(&r), "misp")["error"]
            .as_str()
            .unwrap()
            .contains("readable by others"),
        "{r}"
    );
    assert!(misp.take_requests().is_empty());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    run(&keyed, &["run"]).assert_success();
}

/// The example configuration in `suricata-conf/` is valid; a typo in a key is refused
/// with its name.
#[test]
fn shipped_config_is_valid_and_typos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(workspace_root().join("suricata-conf/rulesync.toml")).unwrap();
    let state = tmp.path().join("state");
    let cfg = write_config_as(
        tmp.path(),
        "example.toml",
        &example.replace(
            "state-dir = \"/var/lib/suriguard\"",
            &format!("state-dir = \"{}\"", state.display()),
        ),
    );
    let ex = std::fs::read_to_string(&cfg).unwrap();
    // write_config_as put its own output-dir/state-dir first: keep the example's only.
    let ex: String = ex.lines().skip(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&cfg, ex).unwrap();
    let r = run(&cfg, &["status", "-o", "json"]);
    r.assert_success();
    assert_eq!(json(&r)["indicators"], 0);

    // Exit status 3: a configuration problem, as for suriguardctl (2 is a bad command
    // line).
    let typo = write_config(tmp.path(), "expire-afterdays = 3\n");
    let r = run(&typo, &["status"]);
    assert_eq!(r.output.status.code(), Some(3), "{r}");
    assert!(r.stderr().contains("expire-afterdays"), "{r}");
}
