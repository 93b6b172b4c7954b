//! The traffic lab: a reproducible, labelled capture of a small IoT home network, for
//! training and testing the model stage.
//!
//! One seed gives one network: benign devices of several kinds and a set of attacks,
//! each with its own randomly drawn rates, sizes, targets and timing, over
//! [`LabSpec::minutes`] of capture time. Every flow the generator makes is written to the
//! labels file (JSON lines: `src`, `sport`, `dst`, `dport`, `proto`, `class`), so a flow
//! record that Suricata writes for it can be labelled exactly, even for an infected
//! device whose benign and malicious flows interleave.
//!
//! Benign: MQTT sensors (short publish sessions) and subscribers (long sessions), HTTP
//! pollers of a cloud API (with DNS lookups), NTP clients, CoAP devices, a browser-like
//! client opening bursts of connections to a CDN, firmware downloads, a phone reaching
//! the home NAS from outside.
//!
//! Attacks (class): vertical and horizontal scans from outside, slow scans (`scan`); SYN,
//! UDP and HTTP floods from outside (`flood`); telnet and SSH brute force (`brute-force`);
//! infected home devices that scan out on telnet ports (`scan`), flood an outside victim
//! (`flood`) and call a C&C server that often does not answer (`c2`).
//!
//! Addresses: home 192.168.1.0/24 (gateway and resolver .1, MQTT broker .2, CoAP hub .3,
//! NAS .4, devices .20–.99) and fd00::1:0/112; outside hosts are drawn from documentation
//! and benchmarking ranges and from a few public /16s. Nothing is sent anywhere: this
//! only writes files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::pcap::{
    dns_answer, dns_query, syn_probe, tcp_conversation, tcp_frame, tcp_session, udp_frame,
    write_sorted, Endpoint, FrameSink, ACK, RST, SYN,
};

/// 2024-03-01T00:00:00Z
const T0: i64 = 1_709_251_200_000_000;
const SEC: i64 = 1_000_000;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct LabSpec {
    pub seed: u64,
    pub minutes: u32,
    pub benign_devices: u32,
    /// Outside attackers (each runs one attack).
    pub attackers: u32,
    /// Infected home devices (each scans out, floods out and calls C&C at times).
    pub infected: u32,
}

impl LabSpec {
    pub fn new(seed: u64) -> LabSpec {
        LabSpec {
            seed,
            minutes: 20,
            benign_devices: 48,
            attackers: 16,
            infected: 3,
        }
    }
}

/// Flows made, by class.
pub type LabSummary = BTreeMap<&'static str, u64>;

/// splitmix64: small, fast, good enough for traffic shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Log-uniform in [lo, hi]: rates and periods spread over orders of magnitude.
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

struct Lab {
    frames: Vec<(i64, Vec<u8>)>,
    labels: BufWriter<File>,
    summary: LabSummary,
    rng: Rng,
    end: i64,
    next_port: u16,
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn home(host: u8, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, host as u16))
    } else {
        v4(192, 168, 1, host)
    }
}

const CDN_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xcd, 0, 0, 0, 0, 0);

impl Lab {
    fn port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 60_999 {
            32_768
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    fn label(&mut self, class: &'static str, src: Endpoint, dst: Endpoint, proto: &str) {
        *self.summary.entry(class).or_default() += 1;
        let _ = writeln!(
            self.labels,
            r#"{{"src":"{}","sport":{},"dst":"{}","dport":{},"proto":"{proto}","class":"{class}"}}"#,
            src.ip, src.port, dst.ip, dst.port
        );
    }

    /// A random outside address, v6 when `v6`.
    fn outside(&mut self, v6: bool) -> IpAddr {
        if v6 {
            let r = self.rng.next();
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                (r >> 48) as u16 | 0x100,
                0,
                0,
                0,
                (r >> 16) as u16,
                r as u16,
            ))
        } else {
            let nets: [[u8; 2]; 6] = [
                [198, 18],
                [198, 19],
                [203, 0],
                [45, 95],
                [91, 240],
                [185, 220],
            ];
            let n = *self.rng.pick(&nets);
            v4(
                n[0],
                n[1],
                self.rng.range(0, 255) as u8,
                self.rng.range(1, 254) as u8,
            )
        }
    }

    fn session(
        &mut self,
        class: &'static str,
        t: i64,
        client: Endpoint,
        server: Endpoint,
        req: &[u8],
        resp: &[u8],
    ) -> i64 {
        self.label(class, client, server, "TCP");
        let gap = self.rng.range(200, 20_000);
        tcp_session(&mut self.frames, t, gap, client, server, req, resp).unwrap_or(t)
    }

    fn udp(
        &mut self,
        class: &'static str,
        t: i64,
        client: Endpoint,
        server: Endpoint,
        req: &[u8],
        resp: Option<&[u8]>,
    ) {
        self.label(class, client, server, "UDP");
        let _ = self.frames.frame(t, &udp_frame(client, server, req));
        if let Some(r) = resp {
            let d = self.rng.range(300, 40_000);
            let _ = self.frames.frame(t + d, &udp_frame(server, client, r));
        }
    }

    /// A SYN answered by RST (closed port), by SYN-ACK then the prober's RST (open
    /// port), or not at all.
    fn probe(&mut self, class: &'static str, t: i64, from: Endpoint, to: Endpoint, answer: f64) {
        self.label(class, from, to, "TCP");
        let _ = syn_probe(&mut self.frames, t, from, to);
        if self.rng.chance(answer) {
            let d = self.rng.range(200, 5_000);
            if self.rng.chance(0.9) {
                let _ = self
                    .frames
                    .frame(t + d, &tcp_frame(to, from, 0, 7_778, RST | ACK, &[]));
            } else {
                let _ = self
                    .frames
                    .frame(t + d, &tcp_frame(to, from, 9_000, 7_778, SYN | ACK, &[]));
                let _ = self
                    .frames
                    .frame(t + 2 * d, &tcp_frame(from, to, 7_778, 0, RST, &[]));
            }
        }
    }

    fn dns(&mut self, t: i64, dev: IpAddr, name: &str) {
        let resolver = Endpoint::new(
            if dev.is_ipv6() {
                home(1, true)
            } else {
                home(1, false)
            },
            53,
        );
        let id = self.rng.next() as u16;
        let client = Endpoint::new(dev, self.port());
        let answer = dns_answer(id, name, [52, 84, self.rng.range(0, 255) as u8, 10]);
        self.udp(
            "benign",
            t,
            client,
            resolver,
            &dns_query(id, name),
            Some(&answer),
        );
    }
}

fn mqtt_publish(topic: &str, payload: &str) -> Vec<u8> {
    let mut m = vec![
        0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 4, b's', b'e', b'n', b's',
    ];
    let body_len = 2 + topic.len() + payload.len();
    m.push(0x30);
    m.push(body_len.min(127) as u8);
    m.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    m.extend_from_slice(topic.as_bytes());
    m.extend_from_slice(payload.as_bytes());
    m
}

const HTTP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"status\":\"ok\"}\r\n";

/// Writes the capture to `pcap` and the labels to `labels`.
pub fn generate(spec: &LabSpec, pcap: &Path, labels: &Path) -> io::Result<LabSummary> {
    let mut lab = Lab {
        frames: Vec::new(),
        labels: BufWriter::new(File::create(labels)?),
        summary: LabSummary::new(),
        rng: Rng(spec.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed),
        end: T0 + spec.minutes as i64 * 60 * SEC,
        next_port: 32_768 + (spec.seed % 1000) as u16 * 20,
    };
    for d in 0..spec.benign_devices {
        benign_device(&mut lab, 20 + (d % 60) as u8, d >= 40 && d % 3 == 0, d);
    }
    nas_visitors(&mut lab);
    for a in 0..spec.attackers {
        attacker(&mut lab, a);
    }
    for i in 0..spec.infected {
        infected(&mut lab, 90 + i as u8);
    }
    lab.labels.flush()?;
    write_sorted(lab.frames, BufWriter::new(File::create(pcap)?))?;
    Ok(lab.summary)
}

/// One benign device of a kind chosen by `n`, active over the whole capture.
fn benign_device(lab: &mut Lab, host: u8, v6: bool, n: u32) {
    let dev = home(host, v6);
    let kind = n % 7;
    let period = lab.rng.log_range(5.0, 90.0);
    let jitter = lab.rng.unit() * 0.3;
    let cloud = lab.outside(v6);
    let mut t = T0 + lab.rng.range(0, 30 * SEC);
    while t < lab.end {
        match kind {
            // MQTT sensor: a short session per reading.
            0 | 5 => {
                let broker = Endpoint::new(home(2, v6), 1883);
                let msg = mqtt_publish(
                    &format!("home/sensor{host}/temp"),
                    &format!("{:.1}", 18.0 + lab.rng.unit() * 6.0),
                );
                let p = lab.port();
                lab.session(
                    "benign",
                    t,
                    Endpoint::new(dev, p),
                    broker,
                    &msg,
                    &[0x20, 2, 0, 0],
                );
            }
            // HTTP poller of a cloud API, with a DNS lookup now and then.
            1 => {
                if lab.rng.chance(0.3) {
                    lab.dns(t, dev, &format!("api{}.vendor.example", host % 5));
                }
                let req = format!("GET /v1/devices/{host}/commands HTTP/1.1\r\nHost: api.vendor.example\r\nUser-Agent: plug/2.{host}\r\n\r\n");
                let p = lab.port();
                lab.session(
                    "benign",
                    t + 50_000,
                    Endpoint::new(dev, p),
                    Endpoint::new(cloud, 80),
                    req.as_bytes(),
                    HTTP_OK,
                );
            }
            // NTP client (long period) plus TLS telemetry.
            2 => {
                let pool = lab.outside(v6);
                let p = lab.port();
                let mut ntp = [0u8; 48];
                ntp[0] = 0x23;
                lab.udp(
                    "benign",
                    t,
                    Endpoint::new(dev, p),
                    Endpoint::new(pool, 123),
                    &ntp,
                    Some(&[0x24; 48]),
                );
                let p = lab.port();
                let body = vec![0x17u8; lab.rng.range(200, 1500) as usize];
                lab.session(
                    "benign",
                    t + SEC,
                    Endpoint::new(dev, p),
                    Endpoint::new(cloud, 443),
                    &body,
                    &[0x17; 90],
                );
                t += 3 * (period * SEC as f64) as i64;
            }
            // CoAP device to the local hub.
            3 => {
                let p = lab.port();
                let req = [
                    0x40,
                    0x01,
                    (t >> 8) as u8,
                    t as u8,
                    0xb4,
                    b't',
                    b'e',
                    b'm',
                    b'p',
                ];
                lab.udp(
                    "benign",
                    t,
                    Endpoint::new(dev, p),
                    Endpoint::new(home(3, v6), 5683),
                    &req,
                    Some(&[0x60, 0x45, 0, 1, 0xff, b'2', b'1']),
                );
            }
            // MQTT subscriber: one long session with messages every few seconds.
            4 => {
                let broker = Endpoint::new(home(2, v6), 1883);
                let turns: Vec<(i64, Vec<u8>, Vec<u8>)> = (0..lab.rng.range(5, 40))
                    .map(|k| {
                        (
                            lab.rng.range(1, 8) * SEC,
                            if k == 0 {
                                mqtt_publish("sub", "x")
                            } else {
                                vec![0xc0, 0]
                            },
                            vec![0x30, 8, 0, 3, b'a', b'/', b'b', b'1', b'2', b'3'],
                        )
                    })
                    .collect();
                let turns: Vec<(i64, &[u8], &[u8])> = turns
                    .iter()
                    .map(|(p, a, b)| (*p, a.as_slice(), b.as_slice()))
                    .collect();
                let p = lab.port();
                let client = Endpoint::new(dev, p);
                lab.label("benign", client, broker, "TCP");
                t = tcp_conversation(&mut lab.frames, t, 500, client, broker, &turns).unwrap_or(t);
            }
            // Browser-like: a burst of connections to several CDN hosts, then a pause.
            _ => {
                let hosts = lab.rng.range(2, 10);
                let conns = lab.rng.range(4, 30);
                for k in 0..conns {
                    let ip = if v6 {
                        let mut o = CDN_V6.octets();
                        o[15] = (k % hosts) as u8 + 1;
                        IpAddr::V6(Ipv6Addr::from(o))
                    } else {
                        v4(151, 101, 0, (k % hosts) as u8 + 1)
                    };
                    let p = lab.port();
                    let size = lab.rng.log_range(300.0, 60_000.0) as usize;
                    let body = vec![0x17u8; size];
                    let at = t + k * lab.rng.range(10_000, 400_000);
                    lab.session(
                        "benign",
                        at,
                        Endpoint::new(dev, p),
                        Endpoint::new(ip, 443),
                        &[0x16; 517],
                        &body,
                    );
                }
                if lab.rng.chance(0.2) {
                    // A firmware download.
                    let p = lab.port();
                    let fw = vec![0u8; lab.rng.range(50_000, 400_000) as usize];
                    lab.session(
                        "benign",
                        t + 20 * SEC,
                        Endpoint::new(dev, p),
                        Endpoint::new(cloud, 80),
                        b"GET /fw/latest.bin HTTP/1.1\r\nHost: fw.vendor.example\r\n\r\n",
                        &fw,
                    );
                }
                t += 2 * (period * SEC as f64) as i64;
            }
        }
        t += ((period * (1.0 + jitter * (lab.rng.unit() - 0.5))) * SEC as f64) as i64;
    }
}

/// A phone and a laptop reaching the home NAS from outside now and then.
fn nas_visitors(lab: &mut Lab) {
    let nas = Endpoint::new(home(4, false), 443);
    for _ in 0..3 {
        let visitor = lab.outside(false);
        let mut t = T0 + lab.rng.range(0, 120 * SEC);
        while t < lab.end {
            for _ in 0..lab.rng.range(1, 6) {
                let p = lab.port();
                let body = vec![0x17u8; lab.rng.range(500, 50_000) as usize];
                t = lab.session(
                    "benign",
                    t,
                    Endpoint::new(visitor, p),
                    nas,
                    &[0x16; 517],
                    &body,
                ) + lab.rng.range(100_000, 3 * SEC);
            }
            t += lab.rng.range(60, 400) * SEC;
        }
    }
}

/// One outside attacker running one attack at a random time.
fn attacker(lab: &mut Lab, n: u32) {
    let v6 = n % 8 == 7;
    let src = lab.outside(v6);
    let span = lab.end - T0;
    let mut t = T0 + lab.rng.range(60 * SEC, span * 3 / 4);
    let host = |lab: &mut Lab| home(lab.rng.range(20, 99) as u8, v6);
    match n % 8 {
        // Vertical scan of one host.
        0 | 7 => {
            let target = host(lab);
            let ports = lab.rng.range(25, 400);
            let rate = lab.rng.log_range(5.0, 300.0);
            let first = lab.rng.range(1, 2000) as u16;
            let sp = lab.port();
            for k in 0..ports {
                let to = Endpoint::new(target, first.wrapping_add(k as u16 * 7) % 10_000 + 1);
                lab.probe("scan", t, Endpoint::new(src, sp), to, 0.85);
                t += (SEC as f64 / rate) as i64;
            }
        }
        // Horizontal scan of a port across the home network.
        1 => {
            let port = *lab
                .rng
                .pick(&[22u16, 23, 80, 443, 554, 1883, 2323, 5555, 7547, 8080]);
            let rate = lab.rng.log_range(3.0, 100.0);
            for h in 20..100u8 {
                let sp = lab.port();
                lab.probe(
                    "scan",
                    t,
                    Endpoint::new(src, sp),
                    Endpoint::new(home(h, v6), port),
                    0.7,
                );
                t += (SEC as f64 / rate) as i64;
            }
        }
        // Slow scan: a probe every few seconds over many ports.
        2 => {
            let target = host(lab);
            for k in 0..lab.rng.range(20, 60) {
                let sp = lab.port();
                lab.probe(
                    "scan",
                    t,
                    Endpoint::new(src, sp),
                    Endpoint::new(target, 20 + k as u16 * 11),
                    0.9,
                );
                t += lab.rng.range(2 * SEC, 8 * SEC);
            }
        }
        // SYN flood against a home server.
        3 => {
            let to = Endpoint::new(home(4, v6), *lab.rng.pick(&[80u16, 443, 8080]));
            let rate = lab.rng.log_range(50.0, 800.0);
            let n = (rate * lab.rng.range(3, 12) as f64).min(3000.0) as i64;
            for _ in 0..n {
                let sp = lab.port();
                lab.probe("flood", t, Endpoint::new(src, sp), to, 0.1);
                t += (SEC as f64 / rate) as i64;
            }
        }
        // UDP flood.
        4 => {
            let target = host(lab);
            let rate = lab.rng.log_range(50.0, 600.0);
            let n = (rate * lab.rng.range(3, 10) as f64).min(2500.0) as i64;
            let size = lab.rng.range(16, 1200) as usize;
            let payload = vec![0x41u8; size];
            for _ in 0..n {
                let sp = lab.port();
                let dp = lab.rng.range(1, 65_000) as u16;
                lab.udp(
                    "flood",
                    t,
                    Endpoint::new(src, sp),
                    Endpoint::new(target, dp),
                    &payload,
                    None,
                );
                t += (SEC as f64 / rate) as i64;
            }
        }
        // HTTP flood: complete requests.
        5 => {
            let to = Endpoint::new(home(4, v6), 80);
            let rate = lab.rng.log_range(15.0, 120.0);
            let n = (rate * lab.rng.range(4, 15) as f64).min(1500.0) as i64;
            for k in 0..n {
                let sp = lab.port();
                let req = format!("GET /?{k} HTTP/1.1\r\nHost: nas.home.arpa\r\n\r\n");
                lab.session(
                    "flood",
                    t,
                    Endpoint::new(src, sp),
                    to,
                    req.as_bytes(),
                    HTTP_OK,
                );
                t += (SEC as f64 / rate) as i64;
            }
        }
        // Telnet / SSH brute force against one device.
        _ => {
            let port = *lab.rng.pick(&[22u16, 23, 2323]);
            let to = Endpoint::new(host(lab), port);
            let gap = lab.rng.log_range(0.3, 6.0);
            for k in 0..lab.rng.range(12, 120) {
                let sp = lab.port();
                let creds = format!("root\r\npass{k}\r\n");
                let banner: &[u8] = if port == 22 {
                    b"SSH-2.0-dropbear_2019.78\r\n"
                } else {
                    b"\r\nLogin incorrect\r\nlogin: "
                };
                lab.session(
                    "brute-force",
                    t,
                    Endpoint::new(src, sp),
                    to,
                    creds.as_bytes(),
                    banner,
                );
                t += (gap * SEC as f64) as i64;
            }
        }
    }
}

/// An infected home device: ordinary traffic, C&C calls, and at times a scan out on
/// telnet ports or a flood of an outside victim.
fn infected(lab: &mut Lab, host: u8) {
    let dev = home(host, false);
    benign_device(lab, host, false, host as u32 % 4);
    let cnc = Endpoint::new(
        lab.outside(false),
        *lab.rng.pick(&[6667u16, 23, 1312, 48101]),
    );
    let period = lab.rng.log_range(5.0, 40.0);
    let answered = lab.rng.unit();
    let mut t = T0 + lab.rng.range(0, 60 * SEC);
    while t < lab.end {
        let sp = lab.port();
        if lab.rng.chance(answered) {
            lab.session(
                "c2",
                t,
                Endpoint::new(dev, sp),
                cnc,
                &[0, 0, 0, 1, 0],
                &[0, 0],
            );
        } else {
            for r in 0..lab.rng.range(1, 3) {
                lab.probe("c2", t + r * 3 * SEC, Endpoint::new(dev, sp), cnc, 0.0);
            }
        }
        t += (period * SEC as f64) as i64;
    }
    // Episodes of scanning out and of flooding.
    let mut t = T0 + lab.rng.range(60 * SEC, 5 * 60 * SEC);
    while t < lab.end {
        if lab.rng.chance(0.6) {
            let rate = lab.rng.log_range(5.0, 150.0);
            for _ in 0..lab.rng.range(40, 600) {
                let sp = lab.port();
                let ip = lab.outside(false);
                let port = *lab.rng.pick(&[23u16, 23, 23, 2323]);
                lab.probe(
                    "scan",
                    t,
                    Endpoint::new(dev, sp),
                    Endpoint::new(ip, port),
                    0.05,
                );
                t += (SEC as f64 / rate) as i64;
            }
        } else {
            let victim = lab.outside(false);
            let rate = lab.rng.log_range(100.0, 800.0);
            let udp = lab.rng.chance(0.5);
            for _ in 0..(rate * lab.rng.range(3, 8) as f64).min(2500.0) as i64 {
                let sp = lab.port();
                let to = Endpoint::new(
                    victim,
                    if udp {
                        lab.rng.range(1, 65_000) as u16
                    } else {
                        80
                    },
                );
                if udp {
                    lab.udp("flood", t, Endpoint::new(dev, sp), to, &[0x55; 512], None);
                } else {
                    lab.probe("flood", t, Endpoint::new(dev, sp), to, 0.0);
                }
                t += (SEC as f64 / rate) as i64;
            }
        }
        t += lab.rng.range(90, 400) * SEC;
    }
}
