//! Mitigation advice: what the operator should do about an incident.
//!
//! The default is offline: a knowledge base keyed by attack class, whose steps name the
//! device, the port and the suriguard command to run. An LLM (Cohere's chat API or any
//! OpenAI-compatible chat-completions endpoint: OpenAI, llama.cpp's server, Ollama) can
//! be asked instead; it gets a sanitised, bounded summary (no payloads, no query
//! strings, no secrets) and the knowledge base is the fallback when it fails.
//! The HTTP call is in `suriguardctl`; request bodies and answer parsing are here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::Error;
use crate::incident::{Incident, Origin};
use crate::secret::SecretRef;

/// The attack classes the knowledge base knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackClass {
    SynFlood,
    HttpFlood,
    PortScan,
    BruteForce,
    MiraiTelnet,
    CompromisedDevice,
    KnownBadIndicator,
    MqttAbuse,
    /// A home host flooded from many (spoofed) sources.
    DistributedFlood,
    Other,
}

impl AttackClass {
    pub const ALL: [AttackClass; 10] = [
        AttackClass::SynFlood,
        AttackClass::HttpFlood,
        AttackClass::PortScan,
        AttackClass::BruteForce,
        AttackClass::MiraiTelnet,
        AttackClass::CompromisedDevice,
        AttackClass::KnownBadIndicator,
        AttackClass::MqttAbuse,
        AttackClass::DistributedFlood,
        AttackClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttackClass::SynFlood => "syn-flood",
            AttackClass::HttpFlood => "http-flood",
            AttackClass::PortScan => "port-scan",
            AttackClass::BruteForce => "brute-force",
            AttackClass::MiraiTelnet => "mirai-telnet",
            AttackClass::CompromisedDevice => "compromised-device",
            AttackClass::KnownBadIndicator => "known-bad-indicator",
            AttackClass::MqttAbuse => "mqtt-abuse",
            AttackClass::DistributedFlood => "distributed-flood",
            AttackClass::Other => "other",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            AttackClass::SynFlood => "SYN flood",
            AttackClass::HttpFlood => "HTTP flood",
            AttackClass::PortScan => "Port scan",
            AttackClass::BruteForce => "Login brute force",
            AttackClass::MiraiTelnet => "Mirai-style telnet attack",
            AttackClass::CompromisedDevice => "Compromised device / command-and-control",
            AttackClass::KnownBadIndicator => "Contact with a known-bad indicator",
            AttackClass::MqttAbuse => "MQTT abuse",
            AttackClass::DistributedFlood => "Distributed flood against a home host",
            AttackClass::Other => "Suspicious traffic",
        }
    }
}

const TELNET: [u16; 2] = [23, 2323];
const MQTT: [u16; 2] = [1883, 8883];

/// Which class an incident belongs to.
pub fn classify(inc: &Incident) -> AttackClass {
    let port = inc.dest_port;
    let telnet = port.is_some_and(|p| TELNET.contains(&p));
    if inc.origin == Origin::Decision {
        return match inc.signature.as_str() {
            "syn-flood" => AttackClass::SynFlood,
            "http-flood" => AttackClass::HttpFlood,
            "port-scan" | "horizontal-scan" | "connection-rate" => AttackClass::PortScan,
            "brute-force" if telnet => AttackClass::MiraiTelnet,
            "brute-force" => AttackClass::BruteForce,
            "outbound-scan" | "outbound-fan-out" if telnet => AttackClass::MiraiTelnet,
            "outbound-scan" | "outbound-fan-out" => AttackClass::CompromisedDevice,
            "flood-target" => AttackClass::DistributedFlood,
            // A honeypot visitor is a login-guessing bot: over telnet, Mirai's kind.
            "honeypot"
                if telnet
                    || inc
                        .detail
                        .as_deref()
                        .is_some_and(|d| d.starts_with("telnet")) =>
            {
                AttackClass::MiraiTelnet
            }
            "honeypot" => AttackClass::BruteForce,
            _ => classify_text(inc, telnet),
        };
    }
    if inc.intel_set.is_some() {
        return AttackClass::KnownBadIndicator;
    }
    classify_text(inc, telnet)
}

fn classify_text(inc: &Incident, telnet: bool) -> AttackClass {
    let text = format!(
        "{} {} {}",
        inc.signature,
        inc.category.as_deref().unwrap_or(""),
        inc.detail.as_deref().unwrap_or("")
    )
    .to_ascii_lowercase();
    let has = |w: &[&str]| w.iter().any(|w| text.contains(w));
    if has(&["mirai", "gafgyt", "bashlite", "busybox"])
        || (telnet && has(&["telnet", "login", "brute"]))
    {
        AttackClass::MiraiTelnet
    } else if has(&["mqtt"]) || inc.dest_port.is_some_and(|p| MQTT.contains(&p)) {
        AttackClass::MqttAbuse
    } else if has(&["syn flood", "synflood", "syn-flood"]) {
        AttackClass::SynFlood
    } else if has(&[
        "http flood",
        "http-flood",
        "ddos",
        "dos attack",
        "denial of service",
    ]) {
        AttackClass::HttpFlood
    } else if has(&[
        "brute",
        "login fail",
        "authentication fail",
        "password guess",
    ]) {
        AttackClass::BruteForce
    } else if has(&["scan", "nmap", "masscan", "zmap", "recon"]) {
        AttackClass::PortScan
    } else if has(&[
        "trojan",
        "cnc",
        "c2",
        "command and control",
        "botnet",
        "malware",
        "backdoor",
        "coinminer",
        "id check returned root",
        "attack_response",
    ]) {
        AttackClass::CompromisedDevice
    } else if has(&[
        "blocklist",
        "block list",
        "misp",
        "known bad",
        "drop list",
        "threat intel",
    ]) {
        AttackClass::KnownBadIndicator
    } else {
        AttackClass::Other
    }
}

/// Advice: the class, what happened, and numbered steps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    pub class: AttackClass,
    pub title: String,
    pub summary: String,
    pub steps: Vec<String>,
    /// `knowledge-base`, or the LLM provider that wrote the steps.
    pub source: String,
    /// Why the LLM was not used, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// The built-in advice for an incident.
pub fn knowledge_base(inc: &Incident, home: &dyn Fn(&str) -> bool) -> Advice {
    let class = classify(inc);
    let src = inc.subject_ip().map(str::to_string);
    let dst = inc.dest_ip.clone();
    // "port 80", or a phrase that reads without a number.
    let port = inc
        .dest_port
        .map_or_else(|| "the targeted port".to_string(), |p| format!("port {p}"));
    // The home device involved: the source when it is at home (it is the one
    // misbehaving), else the destination; the remote side is the other one.
    let (device_ip, remote_ip) = match &src {
        Some(s) if home(s) => (Some(s.clone()), dst.clone()),
        _ => (dst.clone(), src.clone()),
    };
    let device = device_ip
        .clone()
        .unwrap_or_else(|| "the targeted device".into());
    let remote = remote_ip
        .clone()
        .unwrap_or_else(|| "the remote address".into());
    // Commands only with a real address in them; otherwise how to find it.
    let block = match &remote_ip {
        Some(r) => format!("`suriguardctl decisions add {r} --ttl 24h --reason {}`", class.as_str()),
        None => format!(
            "find the addresses involved with `suriguardctl alerts list --since 24h` and block each with `suriguardctl decisions add <ip> --ttl 24h --reason {}`",
            class.as_str()
        ),
    };
    let quarantine = match &device_ip {
        Some(d) => format!("`suriguardctl decisions add {d} --quarantine --ttl 24h --reason {}`", class.as_str()),
        None => format!(
            "find the device with `suriguardctl alerts list --since 24h` and run `suriguardctl decisions add <device-ip> --quarantine --ttl 24h --reason {}`",
            class.as_str()
        ),
    };
    let steps: Vec<String> = match class {
        AttackClass::SynFlood => vec![
            format!("Block the flooding source now: {block} (suriguard blocks it itself when enforcement is on)."),
            format!("On {device}, keep SYN cookies on (`sysctl -w net.ipv4.tcp_syncookies=1`) and lower `net.ipv4.tcp_synack_retries` to 2."),
            format!("Do not expose {port} of {device} to the Internet: remove the port forward on the router, or limit it (`nft add rule inet filter input tcp dport {} ct state new limit rate over 50/second drop`).", inc.dest_port.map_or_else(|| "PORT".to_string(), |p| p.to_string())),
            "If the flood comes from many addresses, ask your ISP for upstream filtering; a home link cannot absorb a large flood.".into(),
        ],
        AttackClass::HttpFlood => vec![
            format!("Block {remote}: {block}."),
            format!("Put the web interface of {device} ({port}) behind the VPN or rate-limit it in the reverse proxy (nginx `limit_req`)."),
            format!("Check {device} is still responsive; restart its web service if it hung."),
            "Lower `[detect] http-flood.threshold` if this was only noticed late.".into(),
        ],
        AttackClass::PortScan => vec![
            format!("Scanning is reconnaissance: {remote} is looking for open services. Block it: {block}."),
            match &device_ip {
                Some(ip) => format!("List what {ip} exposes (`nmap -Pn {ip}` from inside) and close every port forward on the router that is not needed."),
                // A horizontal scan names no one device.
                None => "List what your devices expose (`nmap -Pn` over your home network, from inside) and close every port forward on the router that is not needed.".into(),
            },
            "Watch for follow-up alerts from the same source: `suriguardctl alerts list --since 24h`.".into(),
        ],
        AttackClass::BruteForce => vec![
            format!("Block {remote}: {block}."),
            format!("Change the password of the service on {port} of {device} to a long unique one; use keys instead of passwords for SSH (`PasswordAuthentication no`)."),
            format!("Check {device}'s login log for a success from {remote}; if there is one, treat it as compromised: {quarantine}."),
            "Install fail2ban or an equivalent on the device if it supports it.".into(),
        ],
        AttackClass::MiraiTelnet => vec![
            format!("Quarantine {device} now: {quarantine}; Mirai-style malware spreads over telnet (ports 23/2323) with factory passwords."),
            format!("Block the remote side: {block}."),
            format!("Power-cycle {device} (Mirai lives in memory), then immediately change its default password and disable telnet on {port}."),
            format!("Update {device}'s firmware; if the vendor offers none, keep it quarantined or replace it."),
            "Make sure no router port forward or UPnP mapping exposes telnet (disable UPnP on the router).".into(),
        ],
        AttackClass::CompromisedDevice => vec![
            format!("Quarantine {device}: {quarantine}; it is talking to {remote} as infected devices do."),
            format!("Block {remote} for the whole network: {block}."),
            format!("Reset {device} to factory settings, update its firmware, and set a new unique password before it goes back online."),
            format!("Look for other devices talking to {remote}: `suriguardctl alerts list -o json | jq 'select(.dest_ip == \"{remote}\")'`."),
        ],
        AttackClass::KnownBadIndicator => vec![
            format!("{remote} is on a threat-intelligence list (rulesync set {}). See where it comes from: `rulesync lookup {remote}`.", inc.intel_set.as_deref().unwrap_or("?")),
            format!("Block it: {block}."),
            format!("Find out why {device} contacted it (browser, app, malware); if nothing explains it, quarantine it: {quarantine}."),
            "If the indicator is a false positive, add it to a local exclusion list and run `rulesync run`.".into(),
        ],
        AttackClass::MqttAbuse => vec![
            format!("Turn on authentication on the MQTT broker {device} ({port}): `allow_anonymous false` and a password file in mosquitto."),
            format!("Do not expose {port} to the Internet; serve MQTT over TLS (8883) inside the network only."),
            format!("Block {remote} if it is not one of your devices: {block}."),
            "Restrict topics with an ACL so a device can only publish to its own topics.".into(),
        ],
        AttackClass::DistributedFlood => {
            let service = match (inc.proto.as_deref(), inc.dest_port) {
                (Some(p), Some(n)) => format!("{}/{n}", p.to_ascii_lowercase()),
                _ => port.clone(),
            };
            let mut steps = vec![if inc.category.as_deref() == Some("rate-limit") {
                format!("suriguard rate-limited new connections to {service} of {device} (`[enforce] rate-limit`, 50 a second by default) until the decision expires; clients of that service may be slowed too. See it with `suriguardctl decisions list`; lift it with `suriguardctl decisions delete {device}`.")
            } else {
                format!("{device} was only reported: to rate-limit new connections to the flooded port, set `response = \"rate-limit\"` under `[detect.flood-target]` (the default) and check the decisions with `suriguardctl decisions list`.")
            }];
            steps.push("Do not block the flood's source addresses: they are spoofed, and blocking them blocks innocent hosts (suriguard never does).".into());
            steps.push("Consider upstream filtering: ask your ISP to filter or scrub the flood; a home link cannot absorb a large one.".into());
            steps.push(format!("Do not expose {port} of {device} to the Internet unless it must be: remove the router's port forward or UPnP mapping."));
            if inc.proto.as_deref() != Some("UDP") {
                steps.push(format!("On {device}, keep SYN cookies on (`sysctl -w net.ipv4.tcp_syncookies=1`)."));
            }
            steps
        }
        AttackClass::Other => vec![
            format!("Look at the alert and the traffic around it: `suriguardctl alerts list --since 24h` and eve.json entries with flow_id {}.", inc.flow_id.map(|f| f.to_string()).unwrap_or_else(|| "?".into())),
            format!("If {remote} has no business with {device}, block it: {block}."),
        ],
    };
    Advice {
        class,
        title: class.title().to_string(),
        summary: summary_line(inc),
        steps,
        source: "knowledge-base".into(),
        fallback_reason: None,
    }
}

fn summary_line(inc: &Incident) -> String {
    let mut s = format!("{} ", inc.signature);
    if let Some(ip) = inc.subject_ip() {
        s.push_str(&format!("from {ip}"));
        if let Some(p) = inc.src_port {
            s.push_str(&format!(":{p}"));
        }
    }
    if let Some(d) = &inc.dest_ip {
        s.push_str(&format!(" to {d}"));
        if let Some(p) = inc.dest_port {
            s.push_str(&format!(":{p}"));
        }
    } else if let Some(p) = inc.dest_port {
        s.push_str(&format!(" port {p}"));
    }
    s.push_str(&format!(" at {} (severity {})", inc.time, inc.severity));
    s
}

/// `[mitigate]`: the optional LLM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct MitigateConfig {
    /// `none` (knowledge base only), `cohere`, or `openai` (any OpenAI-compatible
    /// chat-completions endpoint: OpenAI, llama.cpp server, Ollama, vLLM...).
    pub provider: Provider,
    /// Base URL: `https://api.cohere.com` or `https://api.openai.com/v1`,
    /// `http://127.0.0.1:8080/v1` for llama.cpp, `http://127.0.0.1:11434/v1` for Ollama.
    pub url: Option<String>,
    pub model: Option<String>,
    /// API key; a local server may need none.
    pub key: Option<SecretRef>,
    pub ca_file: Option<PathBuf>,
    /// Seconds before falling back to the knowledge base.
    pub timeout: f64,
    /// Largest summary sent, in bytes.
    pub max_summary: usize,
    /// Largest answer kept, in tokens asked for.
    pub max_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    None,
    Cohere,
    Openai,
}

impl Default for MitigateConfig {
    fn default() -> Self {
        MitigateConfig {
            provider: Provider::None,
            url: None,
            model: None,
            key: None,
            ca_file: None,
            timeout: 20.0,
            max_summary: 2048,
            max_tokens: 600,
        }
    }
}

impl suriguard_config::Section for MitigateConfig {
    const NAME: &'static str = "mitigate";

    fn validate(&self) -> Result<(), String> {
        MitigateConfig::validate(self).map_err(|e| e.to_string())
    }
}

impl MitigateConfig {
    /// Checks the settings; the error names the table and the key.
    pub fn validate(&self) -> Result<(), Error> {
        if self.provider != Provider::None && self.model.is_none() {
            return Err(Error::invalid(
                "mitigate",
                "model must be set when provider is not \"none\"",
            ));
        }
        if !(self.timeout > 0.0 && self.timeout <= 600.0) {
            return Err(Error::invalid(
                "mitigate",
                "timeout must be between 0 and 600 seconds",
            ));
        }
        if !(256..=16_384).contains(&self.max_summary) {
            return Err(Error::invalid(
                "mitigate",
                "max-summary must be between 256 and 16384 bytes",
            ));
        }
        Ok(())
    }

    /// The endpoint to POST to.
    pub fn endpoint(&self) -> String {
        let base = match (&self.url, self.provider) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Provider::Cohere) => "https://api.cohere.com".into(),
            (None, _) => "https://api.openai.com/v1".into(),
        };
        match self.provider {
            Provider::Cohere => format!("{base}/v2/chat"),
            _ => format!("{base}/chat/completions"),
        }
    }
}

const SYSTEM: &str = "You are a network security assistant for a home or small-office network \
protected by suriguard (Suricata + nftables). Given one incident, answer with 3 to 6 short, \
concrete, numbered mitigation steps for a non-expert. Name the device address and port. \
suriguard commands you may suggest: `suriguardctl decisions add <ip> --ttl 24h`, \
`suriguardctl decisions add <ip> --quarantine`, `suriguardctl decisions delete <ip>`, \
`rulesync lookup <value>`. Do not ask questions.";

/// The summary an LLM sees: fields only, no payload, no URL query string, bounded.
pub fn llm_summary(inc: &Incident, class: AttackClass, max: usize) -> String {
    let mut lines = vec![
        format!("class: {}", class.title()),
        format!("what: {}", inc.signature),
        format!("kind: {}", inc.origin.as_str()),
        format!("severity: {} (1 = most severe)", inc.severity),
        format!("time: {}", inc.time),
    ];
    let mut opt = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            lines.push(format!("{k}: {v}"));
        }
    };
    opt("category", inc.category.clone());
    opt("source", inc.src_ip.clone());
    opt("source port", inc.src_port.map(|p| p.to_string()));
    opt("destination", inc.dest_ip.clone());
    opt("destination port", inc.dest_port.map(|p| p.to_string()));
    opt("protocol", inc.proto.clone());
    opt("application protocol", inc.app_proto.clone());
    opt("http host", inc.http_host.clone());
    // Paths only: query strings can carry tokens and personal data.
    opt(
        "http path",
        inc.http_url
            .as_ref()
            .map(|u| u.split(['?', '#']).next().unwrap_or("").to_string()),
    );
    opt("threat-intel set", inc.intel_set.clone());
    opt("decision summary", inc.summary.clone());
    opt("evidence", inc.detail.clone());
    let mut out = String::new();
    for l in lines {
        if out.len() + l.len() + 1 > max {
            break;
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The request body for the configured provider.
pub fn llm_request(cfg: &MitigateConfig, summary: &str) -> Value {
    let model = cfg.model.clone().unwrap_or_default();
    let messages = json!([
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": format!("Incident:\n{summary}\nMitigation steps:")},
    ]);
    match cfg.provider {
        Provider::Cohere => json!({
            "model": model, "messages": messages, "max_tokens": cfg.max_tokens, "temperature": 0.2,
        }),
        _ => json!({
            "model": model, "messages": messages, "max_tokens": cfg.max_tokens, "temperature": 0.2,
            "stream": false,
        }),
    }
}

/// The text of an answer: Cohere v2 `message.content[].text`, OpenAI
/// `choices[0].message.content`.
pub fn llm_answer(provider: Provider, body: &Value) -> Result<String, Error> {
    let text = match provider {
        Provider::Cohere => body["message"]["content"].as_array().map(|parts| {
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("")
        }),
        _ => body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string),
    };
    let text = text.ok_or(Error::LlmAnswer {
        provider,
        what: "the answer has no text where the API puts it",
    })?;
    if text.trim().is_empty() {
        return Err(Error::LlmAnswer {
            provider,
            what: "the answer is empty",
        });
    }
    Ok(text)
}

/// Splits an answer into steps (numbered or bulleted lines), bounded.
pub fn steps_of(text: &str) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let stripped = l
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches(['.', ')', '-', '*', '•'])
            .trim();
        let is_item = stripped.len() < l.len();
        let clean = crate::incident::clean(stripped);
        match steps.last_mut() {
            Some(last) if !is_item => {
                last.push(' ');
                last.push_str(&clean);
            }
            _ => steps.push(clean),
        }
        if steps.len() >= 12 {
            break;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::from_line;
    use suriguard_decision::{Action, Decision, Evidence, Reason};
    use suriguard_net::Direction;

    fn alert(sig: &str, category: &str, dport: u16, meta: &str) -> Incident {
        let line = format!(
            r#"{{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":5555,"dest_ip":"192.168.1.30","dest_port":{dport},"proto":"TCP","alert":{{"signature_id":1,"signature":"{sig}","category":"{category}","severity":1{meta}}}}}"#
        );
        from_line(&line).unwrap().unwrap()
    }

    fn decision(reason: Reason, detail: Option<&str>) -> Incident {
        let (target, action, limit) = if reason == Reason::FloodTarget {
            (
                "192.168.1.40",
                Action::RateLimit,
                Some(suriguard_decision::Limit {
                    proto: suriguard_decision::L4::Tcp,
                    port: 8080,
                }),
            )
        } else {
            ("203.0.113.9", Action::Block, None)
        };
        let d = Decision {
            id: "abc".into(),
            time: "2024-01-01T00:00:00.000000Z".into(),
            time_us: 0,
            target: target.parse().unwrap(),
            action,
            limit,
            reason,
            direction: Direction::Inbound,
            summary: "s".into(),
            evidence: Evidence {
                counter: "c".into(),
                observed: 10,
                threshold: 5,
                window_secs: 1.0,
                example_flow_ids: vec![],
                detail: detail.map(str::to_string),
                model: None,
                honeypot: None,
            },
            ttl: 60,
            confidence: 0.9,
            dry_run: false,
        };
        Incident::from_decision(&d)
    }

    fn home(ip: &str) -> bool {
        ip.starts_with("192.168.")
    }

    /// A scan of many hosts names no device: the advice never puts a phrase where a
    /// command wants an address.
    #[test]
    fn a_scan_without_one_target_gives_a_runnable_command() {
        let d = decision(Reason::HorizontalScan, Some("port 23"));
        let a = knowledge_base(&d, &|ip: &str| ip.starts_with("192.168."));
        let text = a.steps.join("\n");
        assert!(!text.contains("nmap -Pn the"), "{text}");
        assert!(text.contains("`nmap -Pn` over your home network"), "{text}");
    }

    /// Advice reads the same with and without a known port ("port 80" or "the targeted
    /// port", never "port the targeted port").
    #[test]
    fn the_port_reads_with_and_without_a_number() {
        let mut inc = alert("ET DOS HTTP flood", "Attempted Denial of Service", 80, "");
        for (port, want) in [(Some(80), "(port 80)"), (None, "(the targeted port)")] {
            inc.dest_port = port;
            let a = knowledge_base(&inc, &|ip: &str| ip.starts_with("192.168."));
            let text = a.steps.join("\n");
            assert!(!text.contains("port the targeted"), "{text}");
            assert!(!text.contains("port port"), "{text}");
            assert!(text.contains(want), "{text}");
        }
    }

    /// One incident per class, and what its advice must name.
    #[test]
    fn every_class_has_concrete_steps() {
        let cases = [
            (
                decision(Reason::SynFlood, Some("port 80")),
                AttackClass::SynFlood,
                "80",
            ),
            (
                decision(Reason::HttpFlood, None),
                AttackClass::HttpFlood,
                "203.0.113.9",
            ),
            (
                decision(Reason::PortScan, None),
                AttackClass::PortScan,
                "203.0.113.9",
            ),
            // No address of the remote side: the steps say how to find it.
            (
                decision(Reason::OutboundScan, Some("port 23")),
                AttackClass::MiraiTelnet,
                "alerts list",
            ),
            (
                decision(Reason::BruteForce, Some("port 22")),
                AttackClass::BruteForce,
                "22",
            ),
            (
                decision(Reason::BruteForce, Some("port 23")),
                AttackClass::MiraiTelnet,
                "23",
            ),
            (
                alert(
                    "ET MALWARE Possible Mirai Variant",
                    "A Network Trojan was detected",
                    23,
                    "",
                ),
                AttackClass::MiraiTelnet,
                "192.168.1.30",
            ),
            (
                alert(
                    "ET TROJAN CnC Beacon",
                    "Malware Command and Control Activity Detected",
                    443,
                    "",
                ),
                AttackClass::CompromisedDevice,
                "192.168.1.30",
            ),
            (
                alert(
                    "suriguard intel: ip.dst",
                    "",
                    443,
                    r#","metadata":{"suriguard_set":["suriguard-ip-dst-v4"]}"#,
                ),
                AttackClass::KnownBadIndicator,
                "rulesync lookup",
            ),
            (
                alert("MQTT CONNECT without credentials", "", 1883, ""),
                AttackClass::MqttAbuse,
                "1883",
            ),
            (
                decision(
                    Reason::FloodTarget,
                    Some("port 8080, about 900 distinct sources"),
                ),
                AttackClass::DistributedFlood,
                "rate-limited new connections to tcp/8080 of 192.168.1.40",
            ),
            (
                alert("Something odd", "", 9, ""),
                AttackClass::Other,
                "suriguardctl",
            ),
        ];
        let mut covered = std::collections::HashSet::new();
        for (inc, class, needle) in cases {
            covered.insert(class);
            let a = knowledge_base(&inc, &home);
            assert_eq!(a.class, class, "{}", inc.signature);
            assert!(a.steps.len() >= 2, "{class:?}");
            let all = a.steps.join("\n");
            assert!(all.contains(needle), "{class:?} steps lack {needle}: {all}");
            assert!(
                all.contains("suriguardctl") || all.contains("rulesync"),
                "{class:?}: no command"
            );
            assert!(
                !all.contains("decisions add the "),
                "{class:?}: a command without an address: {all}"
            );
        }
        for c in AttackClass::ALL {
            assert!(covered.contains(&c), "no case for {c:?}");
        }
    }

    /// A flood's victim is the destination of the incident, with the limited service; the
    /// advice never tells to block the spoofed sources, and a rate limit is not pushed to
    /// MISP as if its target were an attacker.
    #[test]
    fn a_rate_limited_flood_victim_is_the_destination_and_is_not_an_indicator() {
        let inc = decision(Reason::FloodTarget, Some("port 8080"));
        assert_eq!(
            (
                inc.src_ip.as_deref(),
                inc.dest_ip.as_deref(),
                inc.dest_port,
                inc.proto.as_deref()
            ),
            (None, Some("192.168.1.40"), Some(8080), Some("TCP"))
        );
        assert_eq!(
            (inc.severity, inc.category.as_deref()),
            (1, Some("rate-limit"))
        );
        let a = knowledge_base(&inc, &home);
        let all = a.steps.join("\n");
        assert!(all.contains("upstream filtering"), "{all}");
        assert!(
            all.contains("Do not block the flood's source addresses"),
            "{all}"
        );
        assert!(!all.contains("decisions add"), "{all}");
        let misp = crate::misp_event::MispPushConfig {
            push_decisions: true,
            ..Default::default()
        };
        assert!(!misp.wants(&inc));
        assert!(misp.wants(&decision(Reason::PortScan, None)));
    }

    #[test]
    fn summary_is_bounded_and_drops_query_strings() {
        let mut inc = alert("x", "y", 80, "");
        inc.http_host = Some("h.example".into());
        inc.http_url = Some("/login?token=SECRET123&u=me".into());
        let s = llm_summary(&inc, AttackClass::Other, 2048);
        assert!(s.contains("http path: /login\n"), "{s}");
        assert!(!s.contains("SECRET123"));
        assert!(llm_summary(&inc, AttackClass::Other, 100).len() <= 100);
    }

    #[test]
    fn answers_of_both_providers() {
        let cohere = json!({"id":"x","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"1. Block it\n2. Patch it"}]}});
        assert_eq!(
            steps_of(&llm_answer(Provider::Cohere, &cohere).unwrap()),
            ["Block it", "Patch it"]
        );
        let openai = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"- a\n  more\n- b"}}]});
        assert_eq!(
            steps_of(&llm_answer(Provider::Openai, &openai).unwrap()),
            ["a more", "b"]
        );
        assert!(llm_answer(Provider::Openai, &json!({"error":{"message":"x"}})).is_err());
        assert!(llm_answer(Provider::Cohere, &json!({"message":{"content":[]}})).is_err());
    }
}
