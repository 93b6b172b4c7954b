//! Fills the EVE structs from bytes with [`crate::json::Reader`], without serde.
//!
//! Same contract as the serde derives on the structs (which the tests hold it to): known
//! fields must have the right type, `null` means absent for optional fields, a field
//! given twice is refused, unknown fields are skipped (their grammar still checked), and
//! nothing may follow the record but whitespace.

use std::net::IpAddr;

use serde_json::value::RawValue;

use super::{
    Alert, Dns, DnsQuery, EveRecord, EveTime, FirstQuery, Flow, HexFlags, Http, Ja3, Proto, Tcp,
    TcpState,
};
use super::{Connack, Dhcp, Ether, First, FirstText, Ftp, Mqtt, MqttConnect, Text, Tls};
use crate::json::{Error, ErrorKind, Name, Reader, Result};

/// Reads one object: for each key, the arm whose JSON name matches reads the value into a
/// slot (`Option<T>`; refusing a second occurrence); other keys are skipped. Expands to
/// statements, so the slots stay in the caller's scope.
///
/// The arms are listed in the order Suricata writes the fields, and the reader first
/// tries the arm after the last one matched ([`Reader::field`]): when the record follows
/// that order, each key is recognised by one comparison instead of a scan and a search.
macro_rules! fields {
    ($r:ident, { $($slot:ident = $name:literal => $read:expr,)* } $(, skip [$($skip:literal),*])?) => {
        $(let mut $slot = None;)*
        // Names after the read ones (`skip`) are keys Suricata writes that are not read:
        // named, they are found by their place instead of by a search, and skipped (a
        // duplicate is allowed, as for any key not read).
        const NAMES: &[Name] = &[$(Name::new($name),)* $($(Name::new($skip),)*)?];
        $r.object()?;
        let mut first = true;
        let mut next = 0usize;
        while let Some(field) = $r.field(first, NAMES, &mut next)? {
            first = false;
            let mut arm = 0usize;
            let mut read = false;
            $(
                if !read && field == Some(arm) {
                    read = true;
                    let at = $r.offset();
                    if $slot.replace($read).is_some() {
                        return Err(Error { offset: at, kind: ErrorKind::DuplicateField($name) });
                    }
                }
                arm += 1;
            )*
            let _ = arm;
            if !read {
                $r.skip()?;
            }
        }
    };
}

pub(super) fn record(bytes: &[u8]) -> Result<EveRecord<'_>> {
    eve_record(&mut Reader::new(bytes)?)
}

/// Reads the whole record, trailing whitespace included. The struct is built straight in
/// the return slot, once everything is checked: moving it afterwards cost 5 % of a flow
/// record's time.
fn eve_record<'a>(r: &mut Reader<'a>) -> Result<EveRecord<'a>> {
    fields!(r, {
        timestamp = "timestamp" => time(r, "timestamp")?,
        flow_id = "flow_id" => opt_u64(r, "flow_id")?,
        pcap_cnt = "pcap_cnt" => opt_u64(r, "pcap_cnt")?,
        event_type = "event_type" => Text(r.string()?),
        in_iface = "in_iface" => text(r)?,
        src_ip = "src_ip" => ip(r, "src_ip")?,
        src_port = "src_port" => opt_uint(r, "src_port")?,
        dest_ip = "dest_ip" => ip(r, "dest_ip")?,
        dest_port = "dest_port" => opt_uint(r, "dest_port")?,
        proto = "proto" => opt(r, |r| Ok(Proto::from_name(&r.string()?)))?,
        app_proto = "app_proto" => text(r)?,
        icmp_type = "icmp_type" => opt_uint(r, "icmp_type")?,
        icmp_code = "icmp_code" => opt_uint(r, "icmp_code")?,
        tx_id = "tx_id" => opt_u64(r, "tx_id")?,
        flow = "flow" => opt(r, read_flow)?,
        tcp = "tcp" => opt(r, read_tcp)?,
        alert = "alert" => opt(r, |r| read_alert(r).map(Box::new))?,
        dns = "dns" => opt(r, |r| read_dns(r).map(Box::new))?,
        http = "http" => opt(r, |r| read_http(r).map(Box::new))?,
        tls = "tls" => opt(r, |r| read_tls(r).map(Box::new))?,
        ether = "ether" => opt(r, |r| read_ether(r).map(Box::new))?,
        dhcp = "dhcp" => opt(r, |r| read_dhcp(r).map(Box::new))?,
        ftp = "ftp" => opt(r, |r| read_ftp(r).map(Box::new))?,
        mqtt = "mqtt" => opt(r, |r| read_mqtt(r).map(Box::new))?,
    });
    let Some(event_type) = event_type else {
        return r.err(ErrorKind::MissingField("event_type"));
    };
    r.end()?;
    Ok(EveRecord {
        timestamp: timestamp.flatten(),
        flow_id: flow_id.flatten(),
        pcap_cnt: pcap_cnt.flatten(),
        event_type,
        in_iface: in_iface.flatten(),
        src_ip: src_ip.flatten(),
        src_port: src_port.flatten(),
        dest_ip: dest_ip.flatten(),
        dest_port: dest_port.flatten(),
        proto: proto.flatten(),
        app_proto: app_proto.flatten(),
        icmp_type: icmp_type.flatten(),
        icmp_code: icmp_code.flatten(),
        tx_id: tx_id.flatten(),
        flow: flow.flatten(),
        tcp: tcp.flatten(),
        alert: alert.flatten(),
        dns: dns.flatten(),
        http: http.flatten(),
        tls: tls.flatten(),
        ether: ether.flatten(),
        dhcp: dhcp.flatten(),
        ftp: ftp.flatten(),
        mqtt: mqtt.flatten(),
    })
}

fn read_flow<'a>(r: &mut Reader<'a>) -> Result<Flow<'a>> {
    fields!(r, {
        pkts_toserver = "pkts_toserver" => opt_u64(r, "pkts_toserver")?,
        pkts_toclient = "pkts_toclient" => opt_u64(r, "pkts_toclient")?,
        bytes_toserver = "bytes_toserver" => opt_u64(r, "bytes_toserver")?,
        bytes_toclient = "bytes_toclient" => opt_u64(r, "bytes_toclient")?,
        start = "start" => time(r, "start")?,
        end = "end" => time(r, "end")?,
        age = "age" => opt_u64(r, "age")?,
        state = "state" => text(r)?,
        reason = "reason" => text(r)?,
        alerted = "alerted" => opt(r, Reader::bool)?,
    });
    Ok(Flow {
        pkts_toserver: pkts_toserver.flatten(),
        pkts_toclient: pkts_toclient.flatten(),
        bytes_toserver: bytes_toserver.flatten(),
        bytes_toclient: bytes_toclient.flatten(),
        start: start.flatten(),
        end: end.flatten(),
        age: age.flatten(),
        state: state.flatten(),
        reason: reason.flatten(),
        alerted: alerted.flatten(),
    })
}

fn read_tcp(r: &mut Reader<'_>) -> Result<Tcp> {
    fields!(r, {
        tcp_flags = "tcp_flags" => flags(r, "tcp_flags")?,
        tcp_flags_ts = "tcp_flags_ts" => flags(r, "tcp_flags_ts")?,
        tcp_flags_tc = "tcp_flags_tc" => flags(r, "tcp_flags_tc")?,
        syn = "syn" => r.bool()?,
        fin = "fin" => r.bool()?,
        rst = "rst" => r.bool()?,
        psh = "psh" => r.bool()?,
        ack = "ack" => r.bool()?,
        urg = "urg" => r.bool()?,
        state = "state" => opt(r, |r| Ok(TcpState::from_name(&r.string()?)))?,
    }, skip ["ts_max_regions", "tc_max_regions"]);
    Ok(Tcp {
        tcp_flags: tcp_flags.flatten(),
        tcp_flags_ts: tcp_flags_ts.flatten(),
        tcp_flags_tc: tcp_flags_tc.flatten(),
        syn: syn.unwrap_or_default(),
        fin: fin.unwrap_or_default(),
        rst: rst.unwrap_or_default(),
        psh: psh.unwrap_or_default(),
        ack: ack.unwrap_or_default(),
        urg: urg.unwrap_or_default(),
        state: state.flatten(),
    })
}

fn read_alert<'a>(r: &mut Reader<'a>) -> Result<Alert<'a>> {
    fields!(r, {
        action = "action" => text(r)?,
        gid = "gid" => opt_uint(r, "gid")?,
        signature_id = "signature_id" => opt_uint(r, "signature_id")?,
        rev = "rev" => opt_uint(r, "rev")?,
        signature = "signature" => text(r)?,
        category = "category" => text(r)?,
        severity = "severity" => opt_uint(r, "severity")?,
        metadata = "metadata" => opt(r, raw)?,
        context = "context" => opt(r, raw)?,
    });
    Ok(Alert {
        action: action.flatten(),
        gid: gid.flatten(),
        signature_id: signature_id.flatten(),
        rev: rev.flatten(),
        signature: signature.flatten(),
        category: category.flatten(),
        severity: severity.flatten(),
        metadata: metadata.flatten(),
        context: context.flatten(),
    })
}

fn read_dns<'a>(r: &mut Reader<'a>) -> Result<Dns<'a>> {
    fields!(r, {
        kind = "type" => text(r)?,
        rrname = "rrname" => text(r)?,
        rrtype = "rrtype" => text(r)?,
        rcode = "rcode" => text(r)?,
        queries = "queries" => opt(r, first_query)?,
    });
    Ok(Dns {
        kind: kind.flatten(),
        rrname: rrname.flatten(),
        rrtype: rrtype.flatten(),
        rcode: rcode.flatten(),
        queries: queries.flatten(),
    })
}

/// The first element of an array read with `item` (the rest read and dropped).
fn first<'a, T>(
    r: &mut Reader<'a>,
    item: impl Fn(&mut Reader<'a>) -> Result<T>,
) -> Result<First<T>> {
    r.array()?;
    let mut first = None;
    let mut at_first = true;
    while r.item(at_first)? {
        let v = item(r)?;
        if at_first {
            first = Some(v);
        }
        at_first = false;
    }
    Ok(First(first))
}

fn first_query<'a>(r: &mut Reader<'a>) -> Result<FirstQuery<'a>> {
    first(r, read_dns_query)
}

fn read_dns_query<'a>(r: &mut Reader<'a>) -> Result<DnsQuery<'a>> {
    fields!(r, {
        rrname = "rrname" => text(r)?,
        rrtype = "rrtype" => text(r)?,
    });
    Ok(DnsQuery {
        rrname: rrname.flatten(),
        rrtype: rrtype.flatten(),
    })
}

fn read_http<'a>(r: &mut Reader<'a>) -> Result<Http<'a>> {
    fields!(r, {
        hostname = "hostname" => text(r)?,
        url = "url" => text(r)?,
        http_user_agent = "http_user_agent" => text(r)?,
        http_method = "http_method" => text(r)?,
        status = "status" => opt_uint(r, "status")?,
    });
    Ok(Http {
        hostname: hostname.flatten(),
        url: url.flatten(),
        http_user_agent: http_user_agent.flatten(),
        http_method: http_method.flatten(),
        status: status.flatten(),
    })
}

fn read_tls<'a>(r: &mut Reader<'a>) -> Result<Tls<'a>> {
    fields!(r, {
        sni = "sni" => text(r)?,
        version = "version" => text(r)?,
        ja3 = "ja3" => opt(r, read_ja3)?,
    });
    Ok(Tls {
        sni: sni.flatten(),
        version: version.flatten(),
        ja3: ja3.flatten(),
    })
}

fn read_ja3<'a>(r: &mut Reader<'a>) -> Result<Ja3<'a>> {
    fields!(r, {
        hash = "hash" => text(r)?,
    });
    Ok(Ja3 {
        hash: hash.flatten(),
    })
}

fn read_ether<'a>(r: &mut Reader<'a>) -> Result<Ether<'a>> {
    fields!(r, {
        src_mac = "src_mac" => text(r)?,
        src_macs = "src_macs" => opt(r, first_text)?,
    });
    Ok(Ether {
        src_mac: src_mac.flatten(),
        src_macs: src_macs.flatten(),
    })
}

/// An array of strings, keeping the first.
fn first_text<'a>(r: &mut Reader<'a>) -> Result<FirstText<'a>> {
    first(r, |r| Ok(Text(r.string()?)))
}

fn read_ftp<'a>(r: &mut Reader<'a>) -> Result<Ftp<'a>> {
    fields!(r, {
        command = "command" => text(r)?,
        command_data = "command_data" => text(r)?,
        completion_code = "completion_code" => opt(r, first_text)?,
    });
    Ok(Ftp {
        command: command.flatten(),
        command_data: command_data.flatten(),
        completion_code: completion_code.flatten(),
    })
}

fn read_mqtt<'a>(r: &mut Reader<'a>) -> Result<Mqtt<'a>> {
    fields!(r, {
        connect = "connect" => opt(r, read_mqtt_connect)?,
        connack = "connack" => opt(r, read_connack)?,
    });
    Ok(Mqtt {
        connect: connect.flatten(),
        connack: connack.flatten(),
    })
}

fn read_mqtt_connect<'a>(r: &mut Reader<'a>) -> Result<MqttConnect<'a>> {
    fields!(r, {
        username = "username" => text(r)?,
        password = "password" => text(r)?,
    });
    Ok(MqttConnect {
        username: username.flatten(),
        password: password.flatten(),
    })
}

fn read_connack(r: &mut Reader<'_>) -> Result<Connack> {
    fields!(r, {
        return_code = "return_code" => opt_uint(r, "return_code")?,
    });
    Ok(Connack {
        return_code: return_code.flatten(),
    })
}

fn read_dhcp<'a>(r: &mut Reader<'a>) -> Result<Dhcp<'a>> {
    fields!(r, {
        kind = "type" => text(r)?,
        client_mac = "client_mac" => text(r)?,
        assigned_ip = "assigned_ip" => ip(r, "assigned_ip")?,
        client_ip = "client_ip" => ip(r, "client_ip")?,
        hostname = "hostname" => text(r)?,
    });
    Ok(Dhcp {
        kind: kind.flatten(),
        client_mac: client_mac.flatten(),
        assigned_ip: assigned_ip.flatten(),
        client_ip: client_ip.flatten(),
        hostname: hostname.flatten(),
    })
}

/// `null` → `None`, otherwise `read`.
#[inline]
fn opt<'a, T>(
    r: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T>,
) -> Result<Option<T>> {
    if r.null()? {
        Ok(None)
    } else {
        read(r).map(Some)
    }
}

#[inline]
fn text<'a>(r: &mut Reader<'a>) -> Result<Option<Text<'a>>> {
    opt(r, |r| r.string().map(Text))
}

#[inline]
fn opt_u64(r: &mut Reader<'_>, name: &'static str) -> Result<Option<u64>> {
    opt(r, |r| r.u64(name))
}

#[inline]
fn opt_uint<T: TryFrom<u64>>(r: &mut Reader<'_>, name: &'static str) -> Result<Option<T>> {
    opt(r, |r| r.uint(name))
}

/// A string field whose text must also parse as `T` (`name` is used in the error).
#[inline]
fn parsed<T>(
    r: &mut Reader<'_>,
    name: &'static str,
    conv: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>> {
    opt(r, |r| {
        let at = r.offset();
        let s = r.string()?;
        conv(&s).ok_or(Error {
            offset: at,
            kind: ErrorKind::InvalidValue(name),
        })
    })
}

fn time(r: &mut Reader<'_>, name: &'static str) -> Result<Option<EveTime>> {
    parsed(r, name, EveTime::parse)
}

fn ip(r: &mut Reader<'_>, name: &'static str) -> Result<Option<IpAddr>> {
    parsed(r, name, |s| {
        dotted_quad(s)
            .or_else(|| full_ipv6(s))
            .or_else(|| s.parse().ok())
    })
}

/// An IPv6 address as Suricata writes it: eight groups of four hex digits, nothing
/// shortened (`2001:0db8:0000:…:0045`), decoded without the general parser (which cost
/// about 1,700 instructions per address); anything else is left to `IpAddr::from_str`.
#[inline]
fn full_ipv6(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    if b.len() != 39 {
        return None;
    }
    let mut groups = [0u16; 8];
    for (g, group) in groups.iter_mut().enumerate() {
        let at = g * 5;
        if g < 7 && b[at + 4] != b':' {
            return None;
        }
        let mut v = 0u16;
        for &c in &b[at..at + 4] {
            v = v << 4 | (c as char).to_digit(16)? as u16;
        }
        *group = v;
    }
    Some(IpAddr::from(groups))
}

/// The common case of an address, `a.b.c.d` in canonical form (no leading zeros), decoded
/// without the general parser; anything else is left to `IpAddr::from_str`, which accepts
/// a superset of what this does and gives the same address for it.
#[inline]
fn dotted_quad(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    let mut out = [0u8; 4];
    let (mut part, mut val, mut ndig) = (0usize, 0u32, 0u32);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                if ndig == 1 && val == 0 {
                    return None; // leading zero
                }
                val = val * 10 + (c - b'0') as u32;
                ndig += 1;
                if ndig > 3 {
                    return None;
                }
            }
            b'.' if ndig > 0 && part < 3 => {
                out[part] = u8::try_from(val).ok()?;
                part += 1;
                (val, ndig) = (0, 0);
            }
            _ => return None,
        }
    }
    if part != 3 || ndig == 0 {
        return None;
    }
    out[3] = u8::try_from(val).ok()?;
    Some(IpAddr::from(out))
}

fn flags(r: &mut Reader<'_>, name: &'static str) -> Result<Option<HexFlags>> {
    parsed(r, name, HexFlags::parse)
}

/// Any JSON value, kept as its raw text.
fn raw<'a>(r: &mut Reader<'a>) -> Result<&'a RawValue> {
    let span = r.skip()?;
    let text = r.raw(span.clone());
    serde_json::from_str(text).map_err(|_| Error {
        offset: span.start,
        kind: ErrorKind::InvalidValue("metadata"),
    })
}

/// The serde derives on the same structs are the reference this reader is held to.
#[cfg(test)]
pub(crate) mod oracle {
    use super::*;

    /// Parses `b` both ways; panics with the input if they disagree on acceptance or on
    /// the parsed value. Returns whether it was accepted. (Input that is not UTF-8 as a
    /// whole must be refused here; serde_json accepts it when the bad bytes fall in a
    /// field it skips.)
    pub(crate) fn agree(b: &[u8]) -> bool {
        let ours = record(b);
        if std::str::from_utf8(b).is_err() {
            assert!(
                ours.is_err(),
                "accepted non-UTF-8 {:?}",
                String::from_utf8_lossy(b)
            );
            return false;
        }
        let theirs = serde_json::from_slice::<EveRecord>(b);
        match (&ours, &theirs) {
            (Ok(o), Ok(t)) => {
                assert_eq!(
                    format!("{o:?}"),
                    format!("{t:?}"),
                    "different values for {}",
                    String::from_utf8_lossy(b)
                );
                true
            }
            (Err(_), Err(_)) => false,
            _ => panic!(
                "disagree on {:?}: ours {:?}, serde_json {:?}",
                String::from_utf8_lossy(b),
                ours.map(|_| ()),
                theirs.map(|_| ())
            ),
        }
    }

    /// Every prefix, and every position overwritten with each byte that matters to the
    /// grammar. (A leading `[` is left out: serde also reads a struct from an array, which
    /// no EVE producer writes and this reader refuses.)
    pub(crate) fn mutate(rec: &[u8], mut each: impl FnMut(&[u8])) {
        for n in 0..rec.len() {
            each(&rec[..n]);
        }
        let bytes = b"\"\\{}[],:0-9.en tfu\x00\x1f\xff\xc3";
        let mut m = rec.to_vec();
        for i in 0..rec.len() {
            for &c in bytes {
                if c == b'['
                    && rec[..i]
                        .iter()
                        .all(|&x| x == b'{' || x.is_ascii_whitespace())
                {
                    continue;
                }
                m[i] = c;
                each(&m);
            }
            m[i] = rec[i];
        }
    }

    pub(crate) const RECORDS: &[&str] = &[
        r#"{"timestamp":"2024-01-01T00:00:00.000000+0000","flow_id":64119098267471,"event_type":"flow","src_ip":"198.18.0.8","src_port":20002,"dest_ip":"192.168.1.19","dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":6,"pkts_toclient":4,"bytes_toserver":427,"bytes_toclient":282,"start":"2024-01-01T00:00:00.146000+0000","end":"2024-01-01T00:00:00.146900+0000","age":0,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed","ts_max_regions":1,"tc_max_regions":1}}"#,
        r#"{"timestamp":"2023-05-04T10:11:12.345678+0200","event_type":"alert","src_ip":"2001:0db8:0000:0000:0000:0000:0000:0001","dest_ip":"fe80::1","proto":"IPv6-ICMP","icmp_type":128,"icmp_code":0,"alert":{"action":"allowed","gid":1,"signature_id":2100498,"rev":7,"signature":"GPL \"ATTACK\" \u00e9\ud83d\ude00","category":"Potentially Bad Traffic","severity":2,"metadata":{"misp_event":["5c1c"],"n":[1,2.5,null]}},"flow":{"pkts_toserver":1,"start":"2023-05-04T10:11:12Z"},"payload":"AAAA","packet_info":{"linktype":1}}"#,
        r#"{"timestamp":"2024-01-01T00:00:01.5-0130","flow_id":1,"pcap_cnt":17,"event_type":"dns","src_ip":"192.168.1.5","src_port":5353,"dest_ip":"9.9.9.9","dest_port":53,"proto":"UDP","tx_id":0,"dns":{"type":"query","id":1,"rrname":"a\\b.example","rrtype":"A","rcode":null}}"#,
        r#"{"event_type":"http","in_iface":null,"src_port":null,"http":{"hostname":"cam0.home.arpa","url":"/api?x=\/y","http_user_agent":"iot\tagent","http_method":"GET","status":200,"length":0}}"#,
        r#" {"event_type":"tls","tls":{"sni":"example.org","version":"TLS 1.3","ja3":{"hash":"e7d705a3286e19ea42f587b344ee6865","string":"771,4865"},"ja3s":null}} "#,
        r#"{"event_type":"flow","tcp":{"syn":true,"syn":false}}"#,
        r#"{"event_type":"flow","tcp":null,"flow":null,"alert":null}"#,
        r#"{"event_type":"flow","src_ip":"10.10.10.123","ether":{"dest_macs":["00:b5:6d:06:08:ba"],"src_macs":["20:f8:5e:ca:91:52","20:f8:5e:ca:91:53"]}}"#,
        r#"{"event_type":"dhcp","ether":{"src_mac":"20:f8:5e:ca:91:52","dest_mac":"ff:ff:ff:ff:ff:ff"},"dhcp":{"type":"request","id":25331,"client_mac":"20:f8:5e:ca:91:52","assigned_ip":"0.0.0.0","client_ip":"0.0.0.0","hostname":"GainSpan\u00e9","params":["router"]}}"#,
        r#"{"event_type":"flow","ether":{"src_macs":[]},"dhcp":null}"#,
        r#"{"event_type":"ftp","ftp":{"command":"PASS","command_data":"x","reply":["Login incorrect."],"completion_code":["530","221"],"reply_received":"yes"}}"#,
        r#"{"event_type":"mqtt","mqtt":{"connect":{"qos":0,"username":"u","password":"p"},"connack":{"qos":0,"retain":false,"session_present":false,"return_code":5}}}"#,
        // Suricata 8.0.8, EVE dns version 3: a request and a response.
        r#"{"timestamp":"2026-12-06T18:52:13.388086+0000","flow_id":1666819140085079,"pcap_cnt":79,"event_type":"dns","src_ip":"192.168.50.53","src_port":40481,"dest_ip":"198.51.100.53","dest_port":53,"proto":"UDP","ip_v":4,"pkt_src":"wire/pcap","dns":{"version":3,"type":"request","tx_id":0,"id":7467,"flags":"100","rd":true,"opcode":0,"rcode":"NOERROR","queries":[{"rrname":"www.lab","rrtype":"A"}]}}"#,
        r#"{"event_type":"dns","dns":{"version":3,"type":"response","tx_id":1,"id":7467,"flags":"8580","qr":true,"aa":true,"rd":true,"ra":true,"opcode":0,"rcode":"NOERROR","queries":[{"rrname":"www.lab","rrtype":"A"},{"rrname":"b.lab","rrtype":"TXT"}],"answers":[{"rrname":"www.lab","rrtype":"A","ttl":0,"rdata":"198.51.100.10"}],"grouped":{"A":["198.51.100.10"]}}}"#,
        r#"{"event_type":"dns","dns":{"type":"request","queries":null}}"#,
        r#"{"event_type":"dns","dns":{"type":"request","queries":[]}}"#,
        r#"{"event_type":"dns","dns":{"queries":[{"rrname":"x","rrtype":"A","extra":[1,{"y":null}]}]}}"#,
    ];
}

#[cfg(test)]
mod tests {
    use super::oracle::{agree, mutate, RECORDS};
    use super::*;

    #[test]
    fn agrees_with_serde_on_records_and_every_mutation() {
        let mut accepted = 0;
        let mut refused = 0;
        for rec in RECORDS {
            mutate(rec.as_bytes(), |m| {
                if agree(m) {
                    accepted += 1
                } else {
                    refused += 1
                }
            });
        }
        // Both sides of the contract are exercised: many mutations still parse (a digit
        // changed, a string's content changed), many do not.
        assert!(
            accepted > 1_000 && refused > 10_000,
            "{accepted} / {refused}"
        );
    }

    /// Found by the `eve_parse` fuzz target (fuzz/regressions/eve_parse/): a lone UTF-16
    /// surrogate escape in a field nobody reads is let through, as serde_json's typed
    /// reader does (json.rs's one documented leniency); in a field that is read it is
    /// refused, as serde_json refuses it. Likewise a number beyond f64 in a skipped
    /// field (valid grammar): accepted by both typed readers, refused only by
    /// `serde_json::Value`, which decodes every value.
    #[test]
    fn lone_surrogates_and_huge_numbers_pass_only_in_skipped_values() {
        let skipped =
            br#"{"event_type":"alert","x":"\ude00","alert":{"y":"\ud83d","z":"\ud85dx"}}"#;
        assert!(agree(skipped));
        assert!(serde_json::from_slice::<serde_json::Value>(skipped).is_err());
        let big = br#"{"event_type":"flow","flow":{"x":2823898e67471},"y":[1e400]}"#;
        assert!(agree(big));
        assert!(serde_json::from_slice::<serde_json::Value>(big).is_err());
        let read = br#"{"event_type":"alert","alert":{"signature":"\ude00"}}"#;
        assert!(!agree(read));
        assert_eq!(record(read).unwrap_err().kind, ErrorKind::BadEscape);
    }

    /// Keys named only to be found by their place (`skip`) behave as any key not read:
    /// skipped whatever their value, a duplicate allowed, as serde's reader does.
    #[test]
    fn named_skipped_keys_are_still_skipped() {
        let rec = br#"{"event_type":"flow","tcp":{"syn":true,"state":"closed","ts_max_regions":1,"tc_max_regions":{"a":[1]},"ts_max_regions":"x"}}"#;
        assert!(agree(rec));
        let tcp = record(rec).unwrap().tcp.unwrap();
        assert!(tcp.syn);
        let dup = br#"{"event_type":"flow","tcp":{"state":"closed","state":"new"}}"#;
        assert!(!agree(dup), "serde refuses the duplicate too");
        assert_eq!(
            record(dup).unwrap_err().kind,
            ErrorKind::DuplicateField("state")
        );
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = record(br#"{"event_type":"flow","src_port":70000}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "number out of range for `src_port` at byte 32"
        );
        let e = record(br#"{"flow_id":1}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingField("event_type"));
        let e = record(br#"{"event_type":"flow","src_ip":"fe80::1%eth0"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue("src_ip"));
        let e = record(br#"{"event_type":"flow","event_type":"dns"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateField("event_type"));
        let e = record(br#"{"event_type":"flow"} {}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::TrailingCharacters);
    }

    #[test]
    fn dotted_quads_decode_as_the_std_parser_does() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "192.168.1.10",
            "10.0.0.1",
            "1.2.3.4",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            ".1.2.3",
            "1.2.3.",
            "1.2.3.4 ",
            "1234.1.1.1",
            "::1",
            "::ffff:1.2.3.4",
            "",
            "a.b.c.d",
            "1.2.3.04",
            "0.0.0.00",
        ] {
            let fast = dotted_quad(s);
            let std = s.parse::<IpAddr>().ok();
            assert!(fast.is_none() || fast == std, "{s}: {fast:?} vs {std:?}");
            assert_eq!(fast.or(std), std, "{s}");
        }
        assert_eq!(dotted_quad("192.168.1.10"), "192.168.1.10".parse().ok());
    }

    #[test]
    fn full_ipv6_decodes_as_the_std_parser_does() {
        for s in [
            "2001:0db8:0bad:0000:0000:0000:0000:0045",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "FE80:0000:0000:0000:0202:B3FF:FE1E:8329",
            "0000:0000:0000:0000:0000:0000:0000:0001",
            "2001:db8::45",
            "2001:0db8:0bad:0000:0000:0000:0000:045",
            "2001:0db8:0bad:0000:0000:0000:0000:00450",
            "2001-0db8:0bad:0000:0000:0000:0000:0045",
            "2001:0db8:0bad:0000:0000:0000:0000:004g",
            "2001:0db8:0bad:0000:0000:0000:0000:+045",
            "2001:0db8:0bad:0000:0000:0000:1.2.3.4",
            "0000:0000:0000:0000:0000:ffff:0102:0304",
            "",
        ] {
            let fast = full_ipv6(s);
            let std = s.parse::<IpAddr>().ok();
            assert!(fast.is_none() || fast == std, "{s}: {fast:?} vs {std:?}");
            assert_eq!(fast.or(std), std, "{s}");
        }
        assert!(full_ipv6("2001:0db8:0bad:0000:0000:0000:0000:0045").is_some());
        assert!(full_ipv6("0000:0000:0000:0000:0000:ffff:0102:0304").is_some());
    }

    #[test]
    fn strings_borrow_from_the_record() {
        let rec = record(RECORDS[0].as_bytes()).unwrap();
        assert!(matches!(
            rec.event_type.0,
            std::borrow::Cow::Borrowed("flow")
        ));
        let rec = record(RECORDS[2].as_bytes()).unwrap();
        assert_eq!(&*rec.dns.unwrap().rrname.unwrap(), "a\\b.example");
    }

    #[test]
    fn dns_questions_read_the_same_from_eve_dns_v2_and_v3() {
        let v2 = record(RECORDS[2].as_bytes()).unwrap();
        let v2 = v2.dns.unwrap();
        assert!(v2.is_query());
        assert_eq!(
            (v2.query_name(), v2.query_type()),
            (Some("a\\b.example"), Some("A"))
        );
        let request = record(RECORDS[12].as_bytes()).unwrap();
        let request = request.dns.unwrap();
        assert!(request.is_query());
        assert_eq!(
            (request.query_name(), request.query_type()),
            (Some("www.lab"), Some("A"))
        );
        let response = record(RECORDS[13].as_bytes()).unwrap();
        let response = response.dns.unwrap();
        assert!(!response.is_query());
        // The first question is kept, the second only checked.
        assert_eq!(response.query_name(), Some("www.lab"));
        assert!(record(br#"{"event_type":"dns","dns":{"queries":[{"rrname":1}]}}"#).is_err());
        assert!(record(br#"{"event_type":"dns","dns":{"queries":[{},{"rrtype":[]}]}}"#).is_err());
        for refused in [
            r#"{"event_type":"dns","dns":{"queries":[null]}}"#,
            r#"{"event_type":"dns","dns":{"queries":["www.lab"]}}"#,
            r#"{"event_type":"dns","dns":{"queries":{"rrname":"www.lab"}}}"#,
        ] {
            assert!(record(refused.as_bytes()).is_err(), "{refused}");
            assert!(
                serde_json::from_str::<EveRecord>(refused).is_err(),
                "{refused}"
            );
        }
    }
}
