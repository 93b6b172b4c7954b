//! A small, dependency-free pcap writer with just enough packet building (Ethernet,
//! IPv4/IPv6, TCP/UDP with correct checksums, DNS) to make reproducible captures that
//! real Suricata parses: whole TCP sessions with payloads, SYN-only probes, UDP
//! exchanges. Used for the benchmark capture and for attack scenarios in tests.

use std::io::{self, Write};
use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Where the session helpers put their frames: a pcap file, or a list sorted later.
pub trait FrameSink {
    fn frame(&mut self, ts_us: i64, frame: &[u8]) -> io::Result<()>;
}

impl<W: Write> FrameSink for PcapWriter<W> {
    fn frame(&mut self, ts_us: i64, frame: &[u8]) -> io::Result<()> {
        PcapWriter::frame(self, ts_us, frame)
    }
}

/// Frames collected out of order, written to a pcap in time order by [`write_sorted`].
impl FrameSink for Vec<(i64, Vec<u8>)> {
    fn frame(&mut self, ts_us: i64, frame: &[u8]) -> io::Result<()> {
        self.push((ts_us, frame.to_vec()));
        Ok(())
    }
}

/// Writes collected frames in time order (stable: frames at the same instant keep the
/// order they were made in). Returns the number of packets.
pub fn write_sorted<W: Write>(mut frames: Vec<(i64, Vec<u8>)>, out: W) -> io::Result<u64> {
    frames.sort_by_key(|(t, _)| *t);
    let mut w = PcapWriter::new(out)?;
    for (t, f) in &frames {
        w.frame(*t, f)?;
    }
    let n = w.packets();
    w.finish()?;
    Ok(n)
}

/// Writes classic pcap (microsecond timestamps, Ethernet link type).
pub struct PcapWriter<W: Write> {
    out: W,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
        Ok(PcapWriter { out, packets: 0 })
    }

    /// Writes one frame at `ts_us` microseconds since the epoch.
    pub fn frame(&mut self, ts_us: i64, frame: &[u8]) -> io::Result<()> {
        let len = frame.len() as u32;
        self.out
            .write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.packets += 1;
        Ok(())
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One endpoint of a conversation.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint { ip, port }
    }
}

fn checksum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

fn checksum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header_sum(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u32 {
    let mut sum = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum = checksum_add(sum, &s.octets());
            sum = checksum_add(sum, &d.octets());
            sum += proto as u32 + len as u32;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            sum = checksum_add(sum, &s.octets());
            sum = checksum_add(sum, &d.octets());
            sum += (len as u32 >> 16) + (len as u32 & 0xffff) + proto as u32;
        }
        _ => panic!("mixed address families"),
    }
    sum
}

/// Ethernet + IP header around an L4 segment whose checksum field is at `csum_at`.
fn ip_frame(src: IpAddr, dst: IpAddr, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let sum = checksum_add(pseudo_header_sum(src, dst, proto, l4.len()), &l4);
    let c = checksum_fold(sum);
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = (20 + l4.len()) as u16;
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // don't fragment
            h[8] = 64;
            h[9] = proto;
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let c = checksum_fold(checksum_add(0, &h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&h);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            f.push(proto);
            f.push(64);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed address families"),
    }
    f.extend_from_slice(&l4);
    f
}

/// A TCP segment as a full Ethernet frame.
pub fn tcp_frame(
    from: Endpoint,
    to: Endpoint,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&from.port.to_be_bytes());
    t.extend_from_slice(&to.port.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push(5 << 4);
    t.push(flags);
    t.extend_from_slice(&64_240u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    t.extend_from_slice(payload);
    ip_frame(from.ip, to.ip, 6, t, 16)
}

/// A UDP datagram as a full Ethernet frame.
pub fn udp_frame(from: Endpoint, to: Endpoint, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&from.port.to_be_bytes());
    u.extend_from_slice(&to.port.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ip_frame(from.ip, to.ip, 17, u, 6)
}

/// A complete TCP conversation: handshake, one request, one response, orderly close.
/// Packets are `gap_us` apart starting at `t_us`; returns the time after the last one.
pub fn tcp_session<S: FrameSink>(
    w: &mut S,
    t_us: i64,
    gap_us: i64,
    client: Endpoint,
    server: Endpoint,
    request: &[u8],
    response: &[u8],
) -> io::Result<i64> {
    tcp_conversation(w, t_us, gap_us, client, server, &[(0, request, response)])
}

/// One request/response turn of [`tcp_conversation`]: a pause (µs) before it, the
/// client's bytes, the server's bytes (either may be empty).
pub type Turn<'a> = (i64, &'a [u8], &'a [u8]);

/// A TCP conversation of several turns on one connection (an MQTT session, a download
/// in chunks), with handshake and orderly close. Returns the time after the last packet.
pub fn tcp_conversation<S: FrameSink>(
    w: &mut S,
    t_us: i64,
    gap_us: i64,
    client: Endpoint,
    server: Endpoint,
    turns: &[Turn<'_>],
) -> io::Result<i64> {
    let (mut c, mut s) = (1_000u32, 50_000u32);
    let mut t = t_us;
    let send = |w: &mut S, t: &mut i64, frame: Vec<u8>| -> io::Result<()> {
        w.frame(*t, &frame)?;
        *t += gap_us;
        Ok(())
    };
    send(w, &mut t, tcp_frame(client, server, c, 0, SYN, &[]))?;
    send(
        w,
        &mut t,
        tcp_frame(server, client, s, c + 1, SYN | ACK, &[]),
    )?;
    c += 1;
    s += 1;
    send(w, &mut t, tcp_frame(client, server, c, s, ACK, &[]))?;
    for (pause, request, response) in turns {
        t += pause;
        for chunk in request.chunks(1400) {
            send(w, &mut t, tcp_frame(client, server, c, s, PSH | ACK, chunk))?;
            c = c.wrapping_add(chunk.len() as u32);
            send(w, &mut t, tcp_frame(server, client, s, c, ACK, &[]))?;
        }
        for chunk in response.chunks(1400) {
            send(w, &mut t, tcp_frame(server, client, s, c, PSH | ACK, chunk))?;
            s = s.wrapping_add(chunk.len() as u32);
            send(w, &mut t, tcp_frame(client, server, c, s, ACK, &[]))?;
        }
    }
    send(w, &mut t, tcp_frame(client, server, c, s, FIN | ACK, &[]))?;
    c += 1;
    send(w, &mut t, tcp_frame(server, client, s, c, FIN | ACK, &[]))?;
    s += 1;
    send(w, &mut t, tcp_frame(client, server, c, s, ACK, &[]))?;
    Ok(t)
}

/// A SYN that gets no answer (a probe, or one packet of a SYN flood).
pub fn syn_probe<S: FrameSink>(
    w: &mut S,
    t_us: i64,
    from: Endpoint,
    to: Endpoint,
) -> io::Result<()> {
    w.frame(t_us, &tcp_frame(from, to, 7_777, 0, SYN, &[]))
}

/// A DNS query for `name` (type A) with transaction id `id`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    push_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m
}

/// The answer to [`dns_query`]: one A record.
pub fn dns_answer(id: u16, name: &str, addr: [u8; 4]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    push_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
    m.extend_from_slice(&addr);
    m
}

fn push_name(m: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let f = udp_frame(
            Endpoint::new("192.0.2.1".parse().unwrap(), 5353),
            Endpoint::new("192.0.2.2".parse().unwrap(), 53),
            &dns_query(7, "example.com"),
        );
        let ip = &f[14..34];
        assert_eq!(checksum_fold(checksum_add(0, ip)), 0);
        // UDP checksum over pseudo header + segment folds to zero as well.
        let l4 = &f[34..];
        let sum = checksum_add(
            pseudo_header_sum(
                "192.0.2.1".parse().unwrap(),
                "192.0.2.2".parse().unwrap(),
                17,
                l4.len(),
            ),
            l4,
        );
        assert_eq!(checksum_fold(sum), 0);
    }

    #[test]
    fn session_has_ten_packets() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let a = Endpoint::new("2001:db8::1".parse().unwrap(), 40000);
        let b = Endpoint::new("2001:db8::2".parse().unwrap(), 80);
        let end = tcp_session(
            &mut w,
            1_000_000,
            10,
            a,
            b,
            b"GET / HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        )
        .unwrap();
        assert_eq!(w.packets(), 10);
        assert_eq!(end, 1_000_100);
    }
}
