//! Reproducible traffic scenarios written as pcap files.

use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::pcap::{dns_answer, dns_query, syn_probe, tcp_session, udp_frame, Endpoint, PcapWriter};

/// 2024-01-01T00:00:00Z
const T0: i64 = 1_704_067_200_000_000;

fn source_addr(i: u32) -> IpAddr {
    if i % 10 == 9 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xbad,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    } else {
        let n = (198u32 << 24) | (18 << 16) | (i + 1);
        IpAddr::V4(Ipv4Addr::from(n))
    }
}

fn home_addr(v6: bool, host: u32) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, host as u16))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, host as u8))
    }
}

/// `sources` external hosts (198.18.0.0/15, the benchmarking range; every tenth from
/// 2001:db8::/32) each make four HTTP requests to home web servers (every tenth for
/// `/admin`, alerted on by tests/data/bench.rules), two DNS lookups (every 25th for a
/// `bad-*` name, also alerted on) and one unanswered SYN probe: about 15 EVE records per
/// source. Returns the number of packets written.
pub fn mixed_iot(out: &Path, sources: u32) -> std::io::Result<u64> {
    let mut w = PcapWriter::new(BufWriter::new(File::create(out)?))?;
    let response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    for i in 0..sources {
        let src = source_addr(i);
        let v6 = src.is_ipv6();
        let mut t = T0 + i as i64 * 20_000;
        let mut port = 20_000u16;
        for k in 0..4u32 {
            let server = Endpoint::new(home_addr(v6, 10 + (i + k) % 50), 80);
            let path = if k == 0 && i % 10 == 0 {
                "/admin/login".to_owned()
            } else {
                format!("/api/v1/status?dev={i}&n={k}")
            };
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: cam{}.home.arpa\r\nUser-Agent: iot-agent/1.{k}\r\nAccept: */*\r\n\r\n",
                i % 50
            );
            t = tcp_session(
                &mut w,
                t,
                100,
                Endpoint::new(src, port),
                server,
                req.as_bytes(),
                response,
            )? + 2_000;
            port += 1;
        }
        let resolver = Endpoint::new(home_addr(v6, 1), 53);
        for k in 0..2u16 {
            let id = (i as u16).wrapping_mul(2).wrapping_add(k);
            let name = if k == 1 && i % 25 == 0 {
                format!("bad-{i}.example.net")
            } else {
                format!("updates{}.example.com", i % 100)
            };
            let client = Endpoint::new(src, 30_000 + k);
            w.frame(t, &udp_frame(client, resolver, &dns_query(id, &name)))?;
            w.frame(
                t + 300,
                &udp_frame(
                    resolver,
                    client,
                    &dns_answer(id, &name, [203, 0, 113, (i % 250) as u8]),
                ),
            )?;
            t += 2_000;
        }
        syn_probe(
            &mut w,
            t,
            Endpoint::new(src, port),
            Endpoint::new(home_addr(v6, 10 + i % 50), 1_000 + (i % 1_000) as u16),
        )?;
    }
    let packets = w.packets();
    w.finish()?;
    Ok(packets)
}
