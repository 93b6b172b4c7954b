//! One address's recent traffic, summarised from the tail of an EVE log: the console's
//! device page. Only the last [`TAIL_BYTES`] of the file are read, so the page costs the
//! same on a gateway with a week of eve.json as on one with a minute of it.

use std::collections::HashMap;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;
use suriguard_eve::{EventType, Proto};

/// How much of the end of the log is read.
pub const TAIL_BYTES: u64 = 16 << 20;

/// Peers, services and alerts kept (the largest by bytes, the latest alerts).
const TOP: usize = 10;
const ALERTS: usize = 20;

/// What an address did in the records read.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    /// Records read (every type) and the time they span (µs, EVE time).
    pub records: u64,
    pub first_us: i64,
    pub last_us: i64,
    /// Flow records it was part of, and of those, the ones it started.
    pub flows: u64,
    pub initiated: u64,
    /// Flows it started that got no packet back.
    pub unanswered: u64,
    /// Bytes it sent and received in those flows.
    pub bytes_out: u64,
    pub bytes_in: u64,
    /// The other ends, most bytes first.
    pub peers: Vec<Peer>,
    /// Services it reached (protocol, port), most flows first.
    pub services: Vec<Service>,
    /// Alerts in which it is the source or the destination, latest first.
    pub alerts: Vec<AlertLine>,
    pub alerts_total: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    pub addr: String,
    pub flows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub proto: &'static str,
    pub port: u16,
    pub flows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    pub time_us: i64,
    pub signature: String,
    pub severity: u8,
    /// The other address.
    pub peer: String,
}

/// The last `max` bytes of `path`, from the first whole line on.
pub fn read_tail(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(max).read_to_end(&mut buf)?;
    if start > 0 {
        // The first line is cut (unless the cut fell on a line's start: one line lost).
        let cut = buf
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |p| p + 1);
        buf.drain(..cut);
    }
    Ok(buf)
}

fn proto_name(p: Option<Proto>) -> &'static str {
    match p {
        Some(Proto::Tcp) => "tcp",
        Some(Proto::Udp) => "udp",
        Some(Proto::Icmp) => "icmp",
        Some(Proto::Icmpv6) => "ipv6-icmp",
        Some(Proto::Sctp) => "sctp",
        _ => "other",
    }
}

/// Summarises what `ip` did in `log` (EVE lines; lines that do not parse are skipped).
pub fn summarize(log: &[u8], ip: IpAddr) -> FlowSummary {
    let mut s = FlowSummary {
        first_us: i64::MAX,
        last_us: i64::MIN,
        ..FlowSummary::default()
    };
    let mut peers: HashMap<IpAddr, Peer> = HashMap::new();
    let mut services: HashMap<(&'static str, u16), Service> = HashMap::new();
    let mut alerts: Vec<AlertLine> = Vec::new();
    for line in log.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(rec) = suriguard_eve::parse(line) else {
            continue;
        };
        s.records += 1;
        if let Some(t) = rec.timestamp {
            s.first_us = s.first_us.min(t.micros());
            s.last_us = s.last_us.max(t.micros());
        }
        let (Some(src), Some(dst)) = (rec.src_ip, rec.dest_ip) else {
            continue;
        };
        if src != ip && dst != ip {
            continue;
        }
        let peer = if src == ip { dst } else { src };
        match rec.kind() {
            EventType::Flow => {
                let Some(flow) = rec.flow.as_ref() else {
                    continue;
                };
                let (to_server, to_client) = (
                    flow.bytes_toserver.unwrap_or(0),
                    flow.bytes_toclient.unwrap_or(0),
                );
                s.flows += 1;
                let (out, inb) = if src == ip {
                    s.initiated += 1;
                    if flow.pkts_toclient.unwrap_or(0) == 0 {
                        s.unanswered += 1;
                    }
                    let proto = proto_name(rec.proto);
                    let port = rec.dest_port.unwrap_or(0);
                    let e = services.entry((proto, port)).or_insert(Service {
                        proto,
                        port,
                        flows: 0,
                        bytes: 0,
                    });
                    e.flows += 1;
                    e.bytes = e.bytes.saturating_add(to_server.saturating_add(to_client));
                    (to_server, to_client)
                } else {
                    (to_client, to_server)
                };
                s.bytes_out = s.bytes_out.saturating_add(out);
                s.bytes_in = s.bytes_in.saturating_add(inb);
                let p = peers.entry(peer).or_default();
                p.flows += 1;
                p.bytes = p.bytes.saturating_add(out.saturating_add(inb));
            }
            EventType::Alert => {
                s.alerts_total += 1;
                if let Some(a) = rec.alert.as_ref() {
                    alerts.push(AlertLine {
                        time_us: rec.timestamp.map_or(0, |t| t.micros()),
                        signature: a.signature.as_deref().unwrap_or("").to_owned(),
                        severity: a.severity.unwrap_or(3),
                        peer: peer.to_string(),
                    });
                    if alerts.len() > 4 * ALERTS {
                        keep_latest(&mut alerts);
                    }
                }
            }
            _ => {}
        }
    }
    if s.records == 0 || s.first_us == i64::MAX {
        s.first_us = 0;
        s.last_us = 0;
    }
    let mut peers: Vec<(IpAddr, Peer)> = peers.into_iter().collect();
    peers.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    s.peers = peers
        .into_iter()
        .take(TOP)
        .map(|(addr, p)| Peer {
            addr: addr.to_string(),
            ..p
        })
        .collect();
    let mut services: Vec<Service> = services.into_values().collect();
    services.sort_by(|a, b| {
        b.flows
            .cmp(&a.flows)
            .then(a.proto.cmp(b.proto))
            .then(a.port.cmp(&b.port))
    });
    services.truncate(TOP);
    s.services = services;
    keep_latest(&mut alerts);
    s.alerts = alerts;
    s
}

/// One address's totals in the records read (the devices list).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub flows: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub alerts: u64,
}

/// Totals for every address `want` accepts, in one pass over `log`.
pub fn totals(log: &[u8], want: impl Fn(IpAddr) -> bool) -> HashMap<IpAddr, Totals> {
    let mut out: HashMap<IpAddr, Totals> = HashMap::new();
    for line in log.split(|&b| b == b'\n') {
        let Ok(rec) = suriguard_eve::parse(line) else {
            continue;
        };
        let (Some(src), Some(dst)) = (rec.src_ip, rec.dest_ip) else {
            continue;
        };
        match rec.kind() {
            EventType::Flow => {
                let Some(f) = rec.flow.as_ref() else {
                    continue;
                };
                let (ts, tc) = (f.bytes_toserver.unwrap_or(0), f.bytes_toclient.unwrap_or(0));
                for (ip, out_b, in_b) in [(src, ts, tc), (dst, tc, ts)] {
                    if want(ip) {
                        let t = out.entry(ip).or_default();
                        t.flows += 1;
                        t.bytes_out = t.bytes_out.saturating_add(out_b);
                        t.bytes_in = t.bytes_in.saturating_add(in_b);
                    }
                }
            }
            EventType::Alert => {
                for ip in [src, dst] {
                    if want(ip) {
                        out.entry(ip).or_default().alerts += 1;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The latest [`ALERTS`] alerts, latest first.
fn keep_latest(alerts: &mut Vec<AlertLine>) {
    alerts.sort_by_key(|a| std::cmp::Reverse(a.time_us));
    alerts.truncate(ALERTS);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"timestamp":"2026-12-01T10:00:00.000000+0000","event_type":"flow","src_ip":"192.168.1.30","src_port":40000,"dest_ip":"198.51.100.9","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":700,"bytes_toclient":3000}}
{"timestamp":"2026-12-01T10:00:01.000000+0000","event_type":"flow","src_ip":"192.168.1.30","src_port":40001,"dest_ip":"198.51.100.10","dest_port":23,"proto":"TCP","flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0}}
not json at all
{"timestamp":"2026-12-01T10:00:02.000000+0000","event_type":"flow","src_ip":"203.0.113.5","src_port":5555,"dest_ip":"192.168.1.30","dest_port":8080,"proto":"TCP","flow":{"pkts_toserver":2,"pkts_toclient":2,"bytes_toserver":100,"bytes_toclient":50}}
{"timestamp":"2026-12-01T10:00:03.000000+0000","event_type":"alert","src_ip":"203.0.113.5","src_port":5555,"dest_ip":"192.168.1.30","dest_port":8080,"proto":"TCP","alert":{"signature":"ET SCAN <b>probe</b>","severity":2}}
{"timestamp":"2026-12-01T10:00:04.000000+0000","event_type":"flow","src_ip":"192.168.1.31","src_port":1,"dest_ip":"198.51.100.9","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":1,"bytes_toclient":1}}
"#;

    #[test]
    fn counts_only_the_address_and_splits_directions() {
        let s = summarize(LOG.as_bytes(), "192.168.1.30".parse().unwrap());
        assert_eq!(s.records, 5, "the broken line is skipped, the rest read");
        assert_eq!((s.flows, s.initiated, s.unanswered), (3, 2, 1));
        assert_eq!((s.bytes_out, s.bytes_in), (700 + 60 + 50, 3000 + 100));
        assert_eq!(s.peers[0].addr, "198.51.100.9");
        assert_eq!(s.peers[0].bytes, 3700);
        assert_eq!(s.peers.len(), 3);
        let svc: Vec<(&str, u16)> = s.services.iter().map(|x| (x.proto, x.port)).collect();
        assert_eq!(svc, vec![("tcp", 23), ("tcp", 443)]);
        assert_eq!(s.alerts_total, 1);
        assert_eq!(s.alerts[0].signature, "ET SCAN <b>probe</b>");
        assert_eq!(s.alerts[0].peer, "203.0.113.5");
        assert!(s.last_us - s.first_us == 4_000_000);
    }

    #[test]
    fn totals_agree_with_the_summary_for_every_wanted_address() {
        let home = |ip: IpAddr| ip.to_string().starts_with("192.168.");
        let t = totals(LOG.as_bytes(), home);
        assert_eq!(t.len(), 2);
        for (ip, tot) in &t {
            let s = summarize(LOG.as_bytes(), *ip);
            assert_eq!(
                (tot.flows, tot.bytes_out, tot.bytes_in, tot.alerts),
                (s.flows, s.bytes_out, s.bytes_in, s.alerts_total),
                "{ip}"
            );
        }
    }

    #[test]
    fn the_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("eve.json");
        std::fs::write(&p, LOG).unwrap();
        let all = read_tail(&p, 1 << 20).unwrap();
        assert_eq!(all, LOG.as_bytes());
        let last_line = LOG.lines().last().unwrap().len() as u64 + 1;
        let tail = read_tail(&p, last_line + 10).unwrap();
        assert_eq!(
            tail,
            format!("{}\n", LOG.lines().last().unwrap()).as_bytes()
        );
        let s = summarize(&tail, "192.168.1.30".parse().unwrap());
        assert_eq!((s.records, s.flows), (1, 0));
    }
}
