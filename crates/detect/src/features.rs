//! Feature vectors for models.
//!
//! Two extractors, named in a model's sidecar metadata and checked at load:
//!
//! - `seed-v1`: [`seed_features`] computes exactly the 24 inputs of the model suriguard
//!   replaces (`../shared/data/README.md`: one EVE flow record, unnormalised, in this
//!   order), so that model can be run for comparison.
//! - `flow-seq-v1`: [`flow_step`] describes one flow of a source (sizes, duration,
//!   protocol, handshake outcome, destination port class, time since the source's
//!   previous flow) together with the detection engine's window counters for that source
//!   right after the flow ([`crate::engine::Engine::source_features`]). Our own model reads
//!   the last T such steps of a source. Counts and sizes are `ln(1 + x)`, so the sidecar's
//!   normalisation (mean, standard deviation) works on a tame range.

use suriguard_eve::{EveRecord, HexFlags, Proto};

/// The seed model's feature names, in input order.
pub const SEED_FEATURES: [&str; 24] = [
    "bytes_toserver",
    "bytes_toclient",
    "pkts_toserver",
    "pkts_toclient",
    "age",
    "bytes_total",
    "pkts_total",
    "bytes_per_pkt",
    "pkt_rate",
    "byte_rate",
    "src_port_norm",
    "dest_port_norm",
    "is_tcp",
    "is_udp",
    "is_icmp",
    "syn",
    "ack",
    "fin",
    "rst",
    "psh",
    "urg",
    "state_new",
    "alerted",
    "app_code",
];

/// The `flow-seq-v1` step features, in input order.
pub const FLOW_STEP_FEATURES: [&str; 24] = [
    "present",
    "log_bytes_toserver",
    "log_bytes_toclient",
    "log_pkts_toserver",
    "log_pkts_toclient",
    "log_duration",
    "is_tcp",
    "is_udp",
    "is_icmp",
    "syn_no_reply",
    "replied",
    "rst",
    "dport_login",
    "dport_web",
    "dport_below_1024",
    "log_gap",
    "from_home",
    "log_answered_flows_in_window",
    "log_syn_only_flows_in_window",
    "log_web_flows_in_window",
    "log_http_requests_in_window",
    "log_login_sessions_in_window",
    "log_distinct_targets_in_scan_window",
    "log_distinct_external_hosts_in_scan_window",
];

/// Longest gap between two flows of a source that [`flow_step`] tells apart (1 hour); a
/// source's first flow counts as this far from its previous one.
pub const MAX_GAP_SECS: f64 = 3600.0;

/// Destination ports of login services (telnet, SSH and their common alternates).
pub const LOGIN_PORTS: [u16; 4] = [22, 23, 2222, 2323];
/// Destination ports of web services.
pub const WEB_PORTS: [u16; 5] = [80, 443, 8000, 8080, 8443];

/// The `flow-seq-v1` step of one flow record: `window` is the engine's
/// [`crate::engine::Engine::source_features`] for the source after this flow, `gap_secs`
/// the time since the source's previous flow (`None` for its first), `from_home` whether
/// the source is a home device. `None` for records that are not flows.
pub fn flow_step(
    rec: &EveRecord<'_>,
    window: &[f32; 7],
    gap_secs: Option<f64>,
    from_home: bool,
) -> Option<[f32; 24]> {
    let flow = rec.flow.as_ref()?;
    let pts = flow.pkts_toserver.unwrap_or(0);
    let ptc = flow.pkts_toclient.unwrap_or(0);
    let duration = match (flow.start, flow.end) {
        (Some(s), Some(e)) if e.micros() >= s.micros() => (e.micros() - s.micros()) as f64 / 1e6,
        _ => flow.age.unwrap_or(0) as f64,
    };
    let proto = rec.proto.unwrap_or(Proto::Other);
    let tcp = rec.tcp.as_ref();
    let flags_ts = tcp
        .and_then(|t| t.tcp_flags_ts.or(t.tcp_flags))
        .unwrap_or_default();
    let flags_any = tcp
        .map(|t| {
            let mut f = t.tcp_flags.unwrap_or_default().0;
            f |= t.tcp_flags_ts.unwrap_or_default().0 | t.tcp_flags_tc.unwrap_or_default().0;
            HexFlags(f)
        })
        .unwrap_or_default();
    let is_tcp = proto == Proto::Tcp;
    let dport = rec.dest_port.unwrap_or(0);
    let ln = |x: f64| (x.max(0.0)).ln_1p() as f32;
    let gap = gap_secs.unwrap_or(MAX_GAP_SECS).clamp(0.0, MAX_GAP_SECS);
    let mut v = [0f32; 24];
    v[0] = 1.0;
    v[1] = ln(flow.bytes_toserver.unwrap_or(0) as f64);
    v[2] = ln(flow.bytes_toclient.unwrap_or(0) as f64);
    v[3] = ln(pts as f64);
    v[4] = ln(ptc as f64);
    v[5] = ln(duration);
    v[6] = b(is_tcp) as f32;
    v[7] = b(proto == Proto::Udp) as f32;
    v[8] = b(matches!(proto, Proto::Icmp | Proto::Icmpv6)) as f32;
    v[9] =
        b(is_tcp && ptc == 0 && flags_ts.has(HexFlags::SYN) && !flags_ts.has(HexFlags::ACK)) as f32;
    v[10] = b(ptc > 0) as f32;
    v[11] = b(flags_any.has(HexFlags::RST) || tcp.is_some_and(|t| t.rst)) as f32;
    let port_proto = is_tcp || proto == Proto::Udp;
    v[12] = b(port_proto && LOGIN_PORTS.contains(&dport)) as f32;
    v[13] = b(port_proto && WEB_PORTS.contains(&dport)) as f32;
    v[14] = b(port_proto && dport < 1024) as f32;
    v[15] = ln(gap);
    v[16] = b(from_home) as f32;
    for (k, w) in window.iter().enumerate() {
        v[17 + k] = ln(*w as f64);
    }
    Some(v)
}

/// The 24 seed features of a flow record, or `None` for records that are not flows and
/// for flows whose bytes, packets and ports are all zero (the replaced system skipped
/// those). `is_icmp` covers ICMP and ICMPv6.
pub fn seed_features(rec: &EveRecord<'_>) -> Option<[f32; 24]> {
    let flow = rec.flow.as_ref()?;
    let bts = flow.bytes_toserver.unwrap_or(0) as f64;
    let btc = flow.bytes_toclient.unwrap_or(0) as f64;
    let pts = flow.pkts_toserver.unwrap_or(0) as f64;
    let ptc = flow.pkts_toclient.unwrap_or(0) as f64;
    let sport = rec.src_port.unwrap_or(0) as f64;
    let dport = rec.dest_port.unwrap_or(0) as f64;
    if bts + btc + pts + ptc + sport + dport == 0.0 {
        return None;
    }
    let age = flow.age.unwrap_or(0) as f64;
    let bytes = bts + btc;
    let pkts = pts + ptc;
    let flag = |set: bool, bit: u8| {
        let in_hex = rec
            .tcp
            .as_ref()
            .and_then(|t| t.tcp_flags)
            .is_some_and(|f| f.has(bit));
        b(set || in_hex)
    };
    let tcp = rec.tcp.as_ref();
    let proto = rec.proto.unwrap_or(Proto::Other);
    let app = match rec.app_proto.as_deref() {
        Some("dns") => 1.0,
        Some("http") => 2.0,
        Some("tls") => 3.0,
        _ => 0.0,
    };
    let v = [
        bts,
        btc,
        pts,
        ptc,
        age,
        bytes,
        pkts,
        bytes / pkts.max(1.0),
        pkts / age.max(1e-6),
        bytes / age.max(1e-6),
        sport / 65535.0,
        dport / 65535.0,
        b(proto == Proto::Tcp),
        b(proto == Proto::Udp),
        b(matches!(proto, Proto::Icmp | Proto::Icmpv6)),
        flag(tcp.is_some_and(|t| t.syn), HexFlags::SYN),
        flag(tcp.is_some_and(|t| t.ack), HexFlags::ACK),
        flag(tcp.is_some_and(|t| t.fin), HexFlags::FIN),
        flag(tcp.is_some_and(|t| t.rst), HexFlags::RST),
        flag(tcp.is_some_and(|t| t.psh), HexFlags::PSH),
        flag(tcp.is_some_and(|t| t.urg), HexFlags::URG),
        b(flow.state.as_deref() == Some("new")),
        b(flow.alerted == Some(true)),
        app,
    ];
    Some(v.map(|x| x as f32))
}

fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_eve as eve;

    #[test]
    fn hand_computed_tcp_flow() {
        let rec = br#"{"event_type":"flow","src_ip":"192.168.1.5","src_port":51000,"dest_ip":"203.0.113.1","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":6,"pkts_toclient":4,"bytes_toserver":900,"bytes_toclient":4100,"age":4,"state":"closed","alerted":true},"tcp":{"tcp_flags":"1b","syn":true,"fin":true,"psh":true,"ack":true}}"#;
        let v = seed_features(&eve::parse(rec).unwrap()).unwrap();
        let expect: [f32; 24] = [
            900.0,
            4100.0,
            6.0,
            4.0,
            4.0, // raw
            5000.0,
            10.0,
            500.0, // totals, bytes/pkt
            2.5,
            1250.0, // pkts/s, bytes/s over 4 s
            51000.0 / 65535.0,
            443.0 / 65535.0,
            1.0,
            0.0,
            0.0, // tcp
            1.0,
            1.0,
            1.0,
            0.0,
            1.0,
            0.0, // syn ack fin rst psh urg
            0.0,
            1.0,
            3.0, // not new, alerted, tls
        ];
        assert_eq!(v, expect);
    }

    #[test]
    fn hand_computed_udp_flow_with_zero_age() {
        let rec = br#"{"event_type":"flow","src_ip":"192.168.1.5","src_port":5353,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","app_proto":"dns","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":70,"bytes_toclient":130,"age":0,"state":"established","alerted":false}}"#;
        let v = seed_features(&eve::parse(rec).unwrap()).unwrap();
        assert_eq!(v[7], 100.0);
        assert_eq!(v[8], 2.0e6); // 2 packets / 1e-6 s, as the replaced system computed it
        assert_eq!(v[9], 2.0e8);
        assert_eq!(&v[12..15], &[0.0, 1.0, 0.0]);
        assert_eq!(&v[15..21], &[0.0; 6]);
        assert_eq!(v[23], 1.0);
    }

    #[test]
    fn skips_what_the_seed_system_skipped() {
        let zero = br#"{"event_type":"flow","proto":"ICMP","flow":{"pkts_toserver":0,"pkts_toclient":0,"bytes_toserver":0,"bytes_toclient":0}}"#;
        assert!(seed_features(&eve::parse(zero).unwrap()).is_none());
        let dns = br#"{"event_type":"dns","dns":{"type":"query"}}"#;
        assert!(seed_features(&eve::parse(dns).unwrap()).is_none());
        assert_eq!(SEED_FEATURES.len(), 24);
    }
}
