//! Feature vectors for models.
//!
//! [`seed_features`] computes exactly the 24 inputs of the model suriguard replaces
//! (`../shared/data/README.md`: one EVE flow record, unnormalised, in this order), so that
//! model can be run for comparison. Per-source window features for our own model come
//! from the detection engine ([`crate::detect::Engine::source_features`]).

use crate::eve::{EveRecord, HexFlags, Proto};

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
    use crate::eve;

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
