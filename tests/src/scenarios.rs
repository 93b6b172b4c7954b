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
/// `bad-*` name, also alerted on) and five unanswered SYN probes: 11 flows and about 19
/// EVE records per source. Returns the number of packets written.
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
        // Five unanswered probes on different ports: below every heuristic's threshold.
        for k in 0..5u16 {
            let dst = Endpoint::new(home_addr(v6, 10 + i % 50), 1_000 + (i % 1_000) as u16 + k);
            syn_probe(
                &mut w,
                t + k as i64 * 1_000,
                Endpoint::new(src, port + k),
                dst,
            )?;
        }
    }
    let packets = w.packets();
    w.finish()?;
    Ok(packets)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn writer(out: &Path) -> std::io::Result<PcapWriter<BufWriter<File>>> {
    PcapWriter::new(BufWriter::new(File::create(out)?))
}

const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// HTTP flood: 203.0.113.50 makes 150 complete HTTP requests to 192.168.1.10:80 in 3 s,
/// while a benign client 192.168.1.30 polls the same server 5 times.
pub fn http_flood(out: &Path) -> std::io::Result<u64> {
    http_flood_with_host(out, "cam.home.arpa")
}

/// [`http_flood`] with the flooder's requests naming `host` (a hostile string, say).
pub fn http_flood_with_host(out: &Path, host: &str) -> std::io::Result<u64> {
    http_flood_into(out, host, false)
}

/// [`http_flood_with_host`], and the benign home client 192.168.1.30 also reaching two
/// outside services (HTTPS and MQTT over TLS at 198.51.100.80, four times each), so it
/// has a device profile (the console's device pages).
pub fn http_flood_and_a_home_device(out: &Path, host: &str) -> std::io::Result<u64> {
    http_flood_into(out, host, true)
}

fn http_flood_into(out: &Path, host: &str, outbound: bool) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    if outbound {
        let cloud = v4(198, 51, 100, 80);
        for i in 0..8u16 {
            let port = if i % 2 == 0 { 443 } else { 8883 };
            tcp_session(
                &mut w,
                T0 + i as i64 * 400_000,
                100,
                Endpoint::new(v4(192, 168, 1, 30), 41_000 + i),
                Endpoint::new(cloud, port),
                b"\x16\x03\x01\x00\x05hello",
                b"\x16\x03\x03\x00\x05world",
            )?;
        }
    }
    let server = Endpoint::new(v4(192, 168, 1, 10), 80);
    let mut t = T0;
    for i in 0..150u16 {
        let req = format!("GET /index.html?i={i} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        tcp_session(
            &mut w,
            t,
            100,
            Endpoint::new(v4(203, 0, 113, 50), 20_000 + i),
            server,
            req.as_bytes(),
            HTTP_OK,
        )?;
        t += 20_000;
    }
    for i in 0..5u16 {
        let req = "GET /status HTTP/1.1\r\nHost: cam.home.arpa\r\n\r\n";
        tcp_session(
            &mut w,
            T0 + i as i64 * 600_000,
            100,
            Endpoint::new(v4(192, 168, 1, 30), 40_000 + i),
            server,
            req.as_bytes(),
            HTTP_OK,
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// Horizontal scan: 203.0.113.60 probes telnet (23) on 30 home hosts in 1.5 s.
pub fn horizontal_scan(out: &Path) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    for h in 0..30u8 {
        syn_probe(
            &mut w,
            T0 + h as i64 * 50_000,
            Endpoint::new(v4(203, 0, 113, 60), 50_000 + h as u16),
            Endpoint::new(v4(192, 168, 1, 100 + h), 23),
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// Telnet brute force (the Mirai pattern): 203.0.113.70 opens 15 short telnet sessions
/// to 192.168.1.20, each a login attempt that the device answers, within 30 s.
pub fn telnet_brute_force(out: &Path) -> std::io::Result<u64> {
    telnet_brute_force_from(out, Ipv4Addr::new(203, 0, 113, 70))
}

/// The same telnet brute force from `attacker`.
pub fn telnet_brute_force_from(out: &Path, attacker: Ipv4Addr) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    let device = Endpoint::new(v4(192, 168, 1, 20), 23);
    for i in 0..15u16 {
        let creds = format!("root\r\nxc3511-{i}\r\n");
        tcp_session(
            &mut w,
            T0 + i as i64 * 2_000_000,
            1_000,
            Endpoint::new(IpAddr::V4(attacker), 30_000 + i),
            device,
            creds.as_bytes(),
            b"\r\nLogin incorrect\r\nlogin: ",
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// IPv6 port scan: 2001:db8:bad::66 probes 30 ports of fd00::1:10 in 1.5 s.
pub fn ipv6_port_scan(out: &Path) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    let attacker: IpAddr = "2001:db8:bad::66".parse().unwrap();
    let target: IpAddr = "fd00::1:10".parse().unwrap();
    for p in 0..30u16 {
        syn_probe(
            &mut w,
            T0 + p as i64 * 50_000,
            Endpoint::new(attacker, 55_000),
            Endpoint::new(target, 20 + p),
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// An infected home device scanning out: 192.168.1.77 probes telnet on 40 external hosts
/// in 2 s.
pub fn outbound_scan(out: &Path) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    for h in 0..40u8 {
        syn_probe(
            &mut w,
            T0 + h as i64 * 50_000,
            Endpoint::new(v4(192, 168, 1, 77), 40_000 + h as u16),
            Endpoint::new(v4(203, 0, 113, 100 + h), 23),
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// Sources of [`spoofed_syn_flood`] that flood for real (250 SYNs each in 2.5 s).
pub const REAL_FLOODERS: u8 = 10;
/// An allowlisted address that floods too (a monitoring box gone wild).
pub const ALLOWLISTED_FLOODER: &str = "198.51.100.10";

/// A SYN flood from 50,000 spoofed sources (one SYN each, deterministic pseudo-random
/// addresses outside the home networks) against 192.168.1.10:80, mixed with
/// [`REAL_FLOODERS`] sources 203.0.113.1..=10 and [`ALLOWLISTED_FLOODER`] that each
/// send 250 SYNs. All within 5 s.
pub fn spoofed_syn_flood(out: &Path) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    let target = Endpoint::new(v4(192, 168, 1, 10), 80);
    let mut x: u32 = 0x9e37_79b9;
    let mut t = T0;
    for i in 0..50_000u32 {
        // xorshift32; keep clear of private, loopback, multicast and reserved space.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let a = 11 + (x >> 24) % 180; // 11..=190
        let a = if a == 127 || a == 172 || a == 100 {
            45
        } else {
            a
        } as u8;
        let src = v4(a, (x >> 16) as u8, (x >> 8) as u8, (x as u8).max(1));
        syn_probe(
            &mut w,
            t,
            Endpoint::new(src, 1024 + (i % 60_000) as u16),
            target,
        )?;
        t += 50; // 50,000 SYNs in 2.5 s
    }
    let flooders: Vec<IpAddr> = (1..=REAL_FLOODERS)
        .map(|k| v4(203, 0, 113, k))
        .chain(std::iter::once(ALLOWLISTED_FLOODER.parse().unwrap()))
        .collect();
    for k in 0..250u16 {
        for (j, src) in flooders.iter().enumerate() {
            syn_probe(
                &mut w,
                t + (k as i64 * 10_000) + j as i64,
                Endpoint::new(*src, 2_000 + k),
                target,
            )?;
        }
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// A home device (192.168.1.50) that, for each `(name, address)`, asks the home resolver
/// (192.168.1.1) for `name`, gets `address` back, and makes one HTTP request to it with
/// `Host: name`: a DNS query, an HTTP host and a destination address per contact, each
/// a second apart, for threat-intelligence rules to match.
pub fn intel_contacts(out: &Path, contacts: &[(&str, Ipv4Addr)]) -> std::io::Result<u64> {
    let mut w = writer(out)?;
    let device = v4(192, 168, 1, 50);
    let resolver = Endpoint::new(v4(192, 168, 1, 1), 53);
    for (i, (name, addr)) in contacts.iter().enumerate() {
        let t = T0 + i as i64 * 1_000_000;
        let id = 100 + i as u16;
        let client = Endpoint::new(device, 30_000 + i as u16);
        w.frame(t, &udp_frame(client, resolver, &dns_query(id, name)))?;
        w.frame(
            t + 2_000,
            &udp_frame(resolver, client, &dns_answer(id, name, addr.octets())),
        )?;
        let req =
            format!("GET /gate.php HTTP/1.1\r\nHost: {name}\r\nUser-Agent: iot-agent/2.0\r\n\r\n");
        tcp_session(
            &mut w,
            t + 10_000,
            1_000,
            Endpoint::new(device, 40_000 + i as u16),
            Endpoint::new(IpAddr::V4(*addr), 80),
            req.as_bytes(),
            HTTP_OK,
        )?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}
