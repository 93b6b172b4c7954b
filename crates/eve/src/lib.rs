//! Typed, borrowed views of Suricata EVE records.
//!
//! A record is parsed straight from the bytes Suricata handed over into these structs:
//! strings borrow from the input where they carry no escapes, numbers and addresses are
//! decoded in place, and every field Suricata may leave out is an `Option`. Fields that
//! no stage of suriguard reads are skipped (grammar checked, nothing materialised).
//! [`parse`] uses a reader written for this ([`crate::json`]), about 1.8 times as fast as
//! serde_json on flow records; the serde derives below stay as its reference, and tests
//! hold the two to the same result on everything Suricata writes and on mutations of it.
//!
//! Field names and types follow Suricata 7.0's and 8.0's EVE output (where 8.0 differs,
//! as in DNS's version 3, both forms are read). Addresses are parsed as
//! addresses (Suricata writes IPv6 fully expanded, so they must never be compared as
//! strings). Timestamps become [`EveTime`], microseconds since the Unix epoch in UTC, so
//! later stages can run their windows on Suricata's clock rather than the wall clock.

#![forbid(unsafe_code)]

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

pub mod json;
mod read;

pub use crate::json::Error as ParseError;

/// Parses one EVE record. The result borrows from `bytes`.
///
/// This is the worker's hot path: a hand-driven reader ([`crate::json`]) that fills these
/// structs field by field. The serde derives on the same structs are its reference: a
/// test parses every recorded EVE file in `../shared/data` and mutated records both ways
/// and requires the same result.
pub fn parse(bytes: &[u8]) -> Result<EveRecord<'_>, ParseError> {
    read::record(bytes)
}

/// The `event_type` of a record without parsing it, for skipping the types a reader does
/// not use. Suricata writes the key among the first of a record (after `timestamp`,
/// `flow_id`, `in_iface`, `pcap_cnt`), so only the first 512 bytes are searched. Inside a
/// JSON string the quotes of `"event_type":"` would be escaped, so the first match is the
/// key. `None` when it is not found or not a plain name: then parse the record.
pub fn peek_event_type(bytes: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"event_type\":\"";
    let head = &bytes[..bytes.len().min(512)];
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &bytes[at..];
    let end = rest.iter().take(64).position(|&b| b == b'"')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    (!name.is_empty() && !name.contains('\\')).then_some(name)
}

/// One EVE record: the common header plus the blocks later stages use. The blocks other
/// than `flow` and `tcp` are boxed: flow records (most of the traffic) carry none of
/// them, and the record stays at 432 bytes instead of 1,048 to fill and move.
#[derive(Debug, Deserialize)]
pub struct EveRecord<'a> {
    pub timestamp: Option<EveTime>,
    pub flow_id: Option<u64>,
    pub pcap_cnt: Option<u64>,
    #[serde(borrow)]
    pub event_type: Text<'a>,
    #[serde(borrow)]
    pub in_iface: Option<Text<'a>>,
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dest_ip: Option<IpAddr>,
    pub dest_port: Option<u16>,
    pub proto: Option<Proto>,
    #[serde(borrow)]
    pub app_proto: Option<Text<'a>>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub tx_id: Option<u64>,
    #[serde(borrow)]
    pub flow: Option<Flow<'a>>,
    pub tcp: Option<Tcp>,
    #[serde(borrow)]
    pub alert: Option<Box<Alert<'a>>>,
    #[serde(borrow)]
    pub dns: Option<Box<Dns<'a>>>,
    #[serde(borrow)]
    pub http: Option<Box<Http<'a>>>,
    #[serde(borrow)]
    pub tls: Option<Box<Tls<'a>>>,
    #[serde(borrow)]
    pub ether: Option<Box<Ether<'a>>>,
    #[serde(borrow)]
    pub dhcp: Option<Box<Dhcp<'a>>>,
    #[serde(borrow)]
    pub ftp: Option<Box<Ftp<'a>>>,
    #[serde(borrow)]
    pub mqtt: Option<Box<Mqtt<'a>>>,
}

impl<'a> EveRecord<'a> {
    /// A flow record's initiator, responder, flow block and time (its start, otherwise
    /// the record's timestamp, µs); `None` when any of them is missing.
    pub fn flow_parts(&self) -> Option<(IpAddr, IpAddr, &Flow<'a>, i64)> {
        let flow = self.flow.as_ref()?;
        let t = flow.start.or(self.timestamp)?.micros();
        Some((self.src_ip?, self.dest_ip?, flow, t))
    }

    /// The record's event type as a closed enum (unknown names map to [`EventType::Other`]).
    pub fn kind(&self) -> EventType {
        EventType::from_name(&self.event_type)
    }

    /// A flow record Suricata wrote because it was stopping (`flow.reason` "shutdown"),
    /// not because the flow ended or timed out: such records come out all at once, in
    /// its flow table's hash order.
    pub fn logged_at_shutdown(&self) -> bool {
        // The reason first: most records carry none, so the type's name is rarely read.
        self.flow
            .as_ref()
            .and_then(|f| f.reason.as_deref())
            .is_some_and(|r| r == "shutdown")
            && self.kind() == EventType::Flow
    }

    /// The time the detection engine files this record under: a flow's start, otherwise
    /// the record's timestamp.
    pub fn event_time(&self) -> Option<EveTime> {
        self.flow
            .as_ref()
            .and_then(|f| f.start)
            .filter(|_| self.kind() == EventType::Flow)
            .or(self.timestamp)
    }

    /// An order on records that does not depend on the order Suricata wrote them in
    /// (which varies between runs: its flow table is seeded randomly). Replaying records
    /// sorted by this key, and by their bytes where two keys are equal, gives the same
    /// verdicts every time.
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey {
            time: self.event_time().map_or(i64::MIN, EveTime::micros),
            kind: self.kind(),
            src: self.src_ip,
            src_port: self.src_port,
            dest: self.dest_ip,
            dest_port: self.dest_port,
        }
    }
}

/// See [`EveRecord::replay_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReplayKey {
    pub time: i64,
    pub kind: EventType,
    pub src: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dest: Option<IpAddr>,
    pub dest_port: Option<u16>,
}

/// The `flow` block of flow records (and the shorter one carried by alerts).
#[derive(Debug, Default, Deserialize)]
pub struct Flow<'a> {
    pub pkts_toserver: Option<u64>,
    pub pkts_toclient: Option<u64>,
    pub bytes_toserver: Option<u64>,
    pub bytes_toclient: Option<u64>,
    pub start: Option<EveTime>,
    pub end: Option<EveTime>,
    pub age: Option<u64>,
    #[serde(borrow)]
    pub state: Option<Text<'a>>,
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
    pub alerted: Option<bool>,
}

/// The `tcp` block of flow records. Flag booleans are present only when set.
#[derive(Debug, Default, Deserialize)]
pub struct Tcp {
    pub tcp_flags: Option<HexFlags>,
    pub tcp_flags_ts: Option<HexFlags>,
    pub tcp_flags_tc: Option<HexFlags>,
    #[serde(default)]
    pub syn: bool,
    #[serde(default)]
    pub fin: bool,
    #[serde(default)]
    pub rst: bool,
    #[serde(default)]
    pub psh: bool,
    #[serde(default)]
    pub ack: bool,
    #[serde(default)]
    pub urg: bool,
    pub state: Option<TcpState>,
}

/// Suricata's TCP session state names, as the `tcp.state` field writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    TimeWait,
    LastAck,
    CloseWait,
    Closing,
    Closed,
    Other,
}

impl TcpState {
    pub fn from_name(s: &str) -> TcpState {
        match s {
            "none" => TcpState::None,
            "syn_sent" => TcpState::SynSent,
            "syn_recv" => TcpState::SynRecv,
            "established" => TcpState::Established,
            "fin_wait1" => TcpState::FinWait1,
            "fin_wait2" => TcpState::FinWait2,
            "time_wait" => TcpState::TimeWait,
            "last_ack" => TcpState::LastAck,
            "close_wait" => TcpState::CloseWait,
            "closing" => TcpState::Closing,
            "closed" => TcpState::Closed,
            _ => TcpState::Other,
        }
    }
}

impl<'de> Deserialize<'de> for TcpState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor::new("a TCP state name", TcpState::from_name))
    }
}

/// The `alert` block. `severity` 1 is the most severe.
#[derive(Debug, Deserialize)]
pub struct Alert<'a> {
    #[serde(borrow)]
    pub action: Option<Text<'a>>,
    pub gid: Option<u32>,
    pub signature_id: Option<u32>,
    pub rev: Option<u32>,
    #[serde(borrow)]
    pub signature: Option<Text<'a>>,
    #[serde(borrow)]
    pub category: Option<Text<'a>>,
    pub severity: Option<u8>,
    /// Rule metadata kept raw (it is only read for alerts traced back to indicators).
    #[serde(borrow)]
    pub metadata: Option<&'a RawValue>,
    /// Suricata 8's datajson context of the value a dataset matched (`alert.context`),
    /// kept raw: rulesync's sets put each value's MISP events there, under one of
    /// [`INTEL_CONTEXT_KEYS`].
    #[serde(borrow)]
    pub context: Option<&'a RawValue>,
}

/// The `alert.context` keys rulesync's datajson rules name (`context_key`): one for every
/// set, and the URL rule's two, for its host and its path set.
pub const INTEL_CONTEXT_KEYS: [&str; 3] = ["suriguard", "suriguard_host", "suriguard_path"];

/// The `dns` block. EVE dns version 2 (Suricata 7.0) writes one record per query or
/// answer, `type` "query" or "answer", the name in `rrname`; version 3 (Suricata 8.0)
/// writes `type` "request" or "response" and the question in `queries[]`. Read it through
/// [`Dns::is_query`], [`Dns::query_name`] and [`Dns::query_type`], which take both.
#[derive(Debug, Deserialize)]
pub struct Dns<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub rrname: Option<Text<'a>>,
    #[serde(borrow)]
    pub rrtype: Option<Text<'a>>,
    #[serde(borrow)]
    pub rcode: Option<Text<'a>>,
    /// Version 3's questions: the first is kept (a query carries one in practice).
    #[serde(borrow)]
    pub queries: Option<FirstQuery<'a>>,
}

impl Dns<'_> {
    /// A client's question (v2 "query", v3 "request"), not a server's answer.
    pub fn is_query(&self) -> bool {
        matches!(self.kind.as_deref(), Some("query" | "request"))
    }

    /// The name asked for: v2's `rrname`, else v3's first `queries[].rrname`.
    pub fn query_name(&self) -> Option<&str> {
        self.rrname
            .as_deref()
            .or_else(|| self.first_query()?.rrname.as_deref())
    }

    /// The record type asked for (`A`, `TXT`...), from either version.
    pub fn query_type(&self) -> Option<&str> {
        self.rrtype
            .as_deref()
            .or_else(|| self.first_query()?.rrtype.as_deref())
    }

    fn first_query(&self) -> Option<&DnsQuery<'_>> {
        self.queries.as_ref()?.0.as_ref()
    }
}

/// One question of EVE dns version 3 (`dns.queries[]`).
#[derive(Debug, Deserialize)]
pub struct DnsQuery<'a> {
    #[serde(borrow)]
    pub rrname: Option<Text<'a>>,
    #[serde(borrow)]
    pub rrtype: Option<Text<'a>>,
}

/// The `http` block.
#[derive(Debug, Deserialize)]
pub struct Http<'a> {
    #[serde(borrow)]
    pub hostname: Option<Text<'a>>,
    #[serde(borrow)]
    pub url: Option<Text<'a>>,
    #[serde(borrow)]
    pub http_user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    pub http_method: Option<Text<'a>>,
    pub status: Option<u16>,
}

/// The `tls` block.
#[derive(Debug, Deserialize)]
pub struct Tls<'a> {
    #[serde(borrow)]
    pub sni: Option<Text<'a>>,
    #[serde(borrow)]
    pub version: Option<Text<'a>>,
    #[serde(borrow)]
    pub ja3: Option<Ja3<'a>>,
}

/// A JA3 / JA3S fingerprint block.
#[derive(Debug, Deserialize)]
pub struct Ja3<'a> {
    #[serde(borrow)]
    pub hash: Option<Text<'a>>,
}

/// The `ether` block (eve-log `ethernet: yes`): flow records carry the lists
/// `src_macs`/`dest_macs`, other records `src_mac`/`dest_mac`.
#[derive(Debug, Deserialize)]
pub struct Ether<'a> {
    #[serde(borrow)]
    pub src_mac: Option<Text<'a>>,
    #[serde(borrow)]
    pub src_macs: Option<FirstText<'a>>,
}

impl Ether<'_> {
    /// The source's MAC address, from either form.
    pub fn source_mac(&self) -> Option<&str> {
        self.src_mac
            .as_deref()
            .or_else(|| self.src_macs.as_ref()?.0.as_deref())
    }
}

/// The first element of a JSON array (the rest are checked, not kept): the first of an
/// array of strings, or of DNS questions.
#[derive(Debug)]
pub struct First<T>(pub Option<T>);

/// The first string of a JSON array of strings.
pub type FirstText<'a> = First<Text<'a>>;
/// The first question of EVE dns version 3's `queries`.
pub type FirstQuery<'a> = First<DnsQuery<'a>>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<T>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// The `ftp` block: one command and the server's reply codes.
#[derive(Debug, Deserialize)]
pub struct Ftp<'a> {
    #[serde(borrow)]
    pub command: Option<Text<'a>>,
    /// The command's argument (for `PASS`, the password tried).
    #[serde(borrow)]
    pub command_data: Option<Text<'a>>,
    /// The first reply code (`530`: login incorrect).
    #[serde(borrow)]
    pub completion_code: Option<FirstText<'a>>,
}

/// The `mqtt` block: a CONNECT's credentials and the broker's answer.
#[derive(Debug, Deserialize)]
pub struct Mqtt<'a> {
    #[serde(borrow)]
    pub connect: Option<MqttConnect<'a>>,
    pub connack: Option<Connack>,
}

/// The credentials of an MQTT CONNECT.
#[derive(Debug, Deserialize)]
pub struct MqttConnect<'a> {
    #[serde(borrow)]
    pub username: Option<Text<'a>>,
    #[serde(borrow)]
    pub password: Option<Text<'a>>,
}

/// An MQTT CONNACK: return code 0 accepts, 4 (bad user name or password) and 5 (not
/// authorised) refuse a login.
#[derive(Debug, Deserialize)]
pub struct Connack {
    pub return_code: Option<u8>,
}

/// The `dhcp` block: a request names the client's MAC and host name, a reply the
/// address it was given.
#[derive(Debug, Deserialize)]
pub struct Dhcp<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub client_mac: Option<Text<'a>>,
    pub assigned_ip: Option<IpAddr>,
    pub client_ip: Option<IpAddr>,
    #[serde(borrow)]
    pub hostname: Option<Text<'a>>,
}

/// A JSON string that borrows from the record unless it had escapes to undo.
///
/// (serde only borrows into a bare `Cow<str>` field; inside an `Option` it would allocate
/// every string, which this type avoids.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// IP protocol of a record, from Suricata's `proto` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Other,
}

impl Proto {
    pub fn from_name(s: &str) -> Proto {
        match s {
            "TCP" => Proto::Tcp,
            "UDP" => Proto::Udp,
            "ICMP" => Proto::Icmp,
            "IPv6-ICMP" => Proto::Icmpv6,
            "SCTP" => Proto::Sctp,
            _ => Proto::Other,
        }
    }
}

impl<'de> Deserialize<'de> for Proto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor::new("an IP protocol name", Proto::from_name))
    }
}

/// TCP flags written as a hex string (`"1b"`), decoded to the flag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HexFlags(pub u8);

impl HexFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;

    /// Parses Suricata's hex form (`"1b"`).
    pub fn parse(s: &str) -> Option<HexFlags> {
        u8::from_str_radix(s, 16).ok().map(HexFlags)
    }

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

impl<'de> Deserialize<'de> for HexFlags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HexFlags;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("TCP flags as a hex string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<HexFlags, E> {
                HexFlags::parse(s).ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// Maps a borrowed string onto a closed set of names without allocating.
struct NameVisitor<T> {
    expecting: &'static str,
    map: fn(&str) -> T,
}

impl<T> NameVisitor<T> {
    fn new(expecting: &'static str, map: fn(&str) -> T) -> Self {
        NameVisitor { expecting, map }
    }
}

impl<T> Visitor<'_> for NameVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        Ok((self.map)(s))
    }
}

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Suricata's event types. The list is closed so counters can live in a fixed
        /// array; anything new lands in [`EventType::Other`] and is counted by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)*
            Other,
        }

        impl EventType {
            /// Every variant, in counter order ([`EventType::Other`] last).
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)* EventType::Other];

            /// Number of variants, [`EventType::Other`] included.
            pub const COUNT: usize = Self::ALL.len();

            pub fn from_name(name: &str) -> EventType {
                match name {
                    $($name => EventType::$variant,)*
                    _ => EventType::Other,
                }
            }

            /// The name Suricata writes in `event_type` (`"other"` for [`EventType::Other`]).
            pub fn name(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                    EventType::Other => "other",
                }
            }
        }
    };
}

event_types! {
    Alert => "alert",
    Anomaly => "anomaly",
    Dcerpc => "dcerpc",
    Dhcp => "dhcp",
    Dnp3 => "dnp3",
    Dns => "dns",
    Drop => "drop",
    Enip => "enip",
    Fileinfo => "fileinfo",
    Flow => "flow",
    Frame => "frame",
    Ftp => "ftp",
    FtpData => "ftp_data",
    Http => "http",
    Http2 => "http2",
    Ike => "ike",
    Krb5 => "krb5",
    Modbus => "modbus",
    Mqtt => "mqtt",
    Netflow => "netflow",
    Nfs => "nfs",
    Pgsql => "pgsql",
    Quic => "quic",
    Rdp => "rdp",
    Rfb => "rfb",
    Sip => "sip",
    Smb => "smb",
    Smtp => "smtp",
    Snmp => "snmp",
    Ssh => "ssh",
    Stats => "stats",
    Telnet => "telnet",
    Tftp => "tftp",
    Tls => "tls",
}

impl EventType {
    /// Position in [`EventType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A point in Suricata's time: microseconds since the Unix epoch, UTC.
///
/// Parsed from EVE's `2024-01-31T12:34:56.123456+0100` form. Windows and decisions use
/// this clock only, so replaying a capture reproduces live verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EveTime(pub i64);

impl EveTime {
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses EVE's timestamp form. Fractional digits may number 0 to 9 (Suricata writes
    /// 6); the offset is `+HHMM`, `-HHMM`, `+HH:MM` or `Z`.
    pub fn parse(s: &str) -> Option<EveTime> {
        let b = s.as_bytes();
        if b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let days = days_of(&b[0..10])?;
        let hour = digits(&b[11..13])? as i64;
        let min = digits(&b[14..16])? as i64;
        let sec = digits(&b[17..19])? as i64;
        if hour > 23 || min > 59 || sec > 60 {
            return None;
        }
        let mut i = 19;
        let mut micros = 0i64;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &b[start..i];
            if frac.is_empty() || frac.len() > 9 {
                return None;
            }
            for k in 0..6 {
                micros = micros * 10 + frac.get(k).map_or(0, |d| (d - b'0') as i64);
            }
        }
        let offset_secs = match &b[i..] {
            [] | [b'Z'] => 0,
            [sign @ (b'+' | b'-'), rest @ ..] => {
                let (hh, mm) = match rest {
                    [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                    [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
                    _ => return None,
                };
                let secs = digits(&hh)? as i64 * 3600 + digits(&mm)? as i64 * 60;
                if *sign == b'+' {
                    secs
                } else {
                    -secs
                }
            }
            _ => return None,
        };
        let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
        Some(EveTime(secs * 1_000_000 + micros))
    }
}

impl<'de> Deserialize<'de> for EveTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EveTime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an EVE timestamp such as 2024-01-31T12:34:56.123456+0000")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<EveTime, E> {
                EveTime::parse(s).ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }
        d.deserialize_str(V)
    }
}

/// Days since the epoch of a `YYYY-MM-DD` date. Nearly every timestamp a thread parses
/// falls on the day of the one before (a flow record holds three), so the last date seen
/// on this thread is remembered with its day number.
fn days_of(date: &[u8]) -> Option<i64> {
    thread_local! {
        static LAST: Cell<([u8; 10], i64)> = const { Cell::new((*b"1970-01-01", 0)) };
    }
    let key: [u8; 10] = date.try_into().ok()?;
    let (last, days) = LAST.get();
    if last == key {
        return Some(days);
    }
    let year = digits(&key[0..4])? as i64;
    let month = digits(&key[5..7])?;
    let day = digits(&key[8..10])?;
    if key[4] != b'-' || key[7] != b'-' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    LAST.set((key, days));
    Some(days)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const FLOW: &str = r#"{"timestamp":"2023-05-04T10:11:12.345678+0200","flow_id":1234567890123,"in_iface":"eth0","event_type":"flow","src_ip":"2001:0db8:0bad:0000:0000:0000:0000:0050","src_port":51234,"dest_ip":"2001:0db8:0000:0000:0000:0000:0000:0001","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":5,"pkts_toclient":4,"bytes_toserver":600,"bytes_toclient":3000,"start":"2023-05-04T10:11:10.000000+0200","end":"2023-05-04T10:11:12.000000+0200","age":2,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"}}"#;

    #[test]
    fn peeks_the_event_type() {
        assert_eq!(peek_event_type(FLOW.as_bytes()), Some("flow"));
        let quoted =
            br#"{"timestamp":"x","in_iface":"a\"event_type\":\"alert","event_type":"dns"}"#;
        assert_eq!(peek_event_type(quoted), Some("dns"));
        assert_eq!(peek_event_type(br#"{"event_type":"fl\u006fw"}"#), None);
        assert_eq!(peek_event_type(br#"{"event_type":""}"#), None);
        assert_eq!(peek_event_type(br#"{"event_type":"flow"#), None);
        assert_eq!(peek_event_type(b"not json"), None);
        let mut late = br#"{"pad":""#.to_vec();
        late.extend(std::iter::repeat_n(b'x', 600));
        late.extend(br#"","event_type":"flow"}"#);
        assert_eq!(peek_event_type(&late), None, "only the head is searched");
    }

    #[test]
    fn parses_a_tcp_flow_record() {
        let r = parse(FLOW.as_bytes()).unwrap();
        assert_eq!(r.kind(), EventType::Flow);
        assert_eq!(r.flow_id, Some(1_234_567_890_123));
        // Expanded IPv6 parses to the same address as its compressed form.
        assert_eq!(
            r.src_ip,
            Some(IpAddr::V6("2001:db8:bad::50".parse::<Ipv6Addr>().unwrap()))
        );
        assert_eq!(r.dest_port, Some(443));
        assert_eq!(r.proto, Some(Proto::Tcp));
        let flow = r.flow.unwrap();
        assert_eq!(flow.bytes_toclient, Some(3000));
        assert_eq!(flow.state.as_deref(), Some("closed"));
        assert_eq!(flow.end.unwrap().0 - flow.start.unwrap().0, 2_000_000);
        let tcp = r.tcp.unwrap();
        assert_eq!(tcp.tcp_flags, Some(HexFlags(0x1b)));
        assert!(tcp.tcp_flags.unwrap().has(HexFlags::SYN));
        assert!(!tcp.tcp_flags.unwrap().has(HexFlags::RST));
        assert!(tcp.syn && tcp.ack && tcp.fin && !tcp.rst);
        assert_eq!(tcp.state, Some(TcpState::Closed));
    }

    #[test]
    fn strings_with_escapes_still_parse() {
        let rec = br#"{"event_type":"http","http":{"hostname":"a.example","url":"\/x?q=\"1\"","http_user_agent":"Mozilla\/5.0"}}"#;
        let r = parse(rec).unwrap();
        let http = r.http.unwrap();
        assert_eq!(http.url.as_deref(), Some("/x?q=\"1\""));
        assert!(matches!(http.url, Some(Text(Cow::Owned(_)))));
        assert!(matches!(http.hostname, Some(Text(Cow::Borrowed(_)))));
    }

    #[test]
    fn alert_keeps_metadata_raw() {
        let rec = br#"{"event_type":"alert","alert":{"signature_id":9000001,"severity":1,"signature":"x","metadata":{"misp_event":["5c1c"]}}}"#;
        let r = parse(rec).unwrap();
        let a = r.alert.unwrap();
        assert_eq!(a.severity, Some(1));
        assert_eq!(a.metadata.unwrap().get(), r#"{"misp_event":["5c1c"]}"#);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"event_type\":\"flow\",\"src_ip\":\"fe80::1%eth0\"}",
            b"{\"event_type\":\"flow\",\"flow\":{\"bytes_toserver\":\"many\"}}",
            b"{\"event_type\":\"flow\",\"tcp\":{\"tcp_flags\":\"zz\"}}",
            b"{\"event_type\":\"flow\",\"timestamp\":\"yesterday\"}",
            b"{\"event_type\":\"fl\xffow\"}",
            b"[1,2,3]",
            b"{\"src_ip\":\"1.2.3.4\"}",
        ] {
            assert!(
                parse(bad).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unknown_event_types_are_other() {
        let r = parse(br#"{"event_type":"bittorrent_dht"}"#).unwrap();
        assert_eq!(r.kind(), EventType::Other);
        assert_eq!(r.event_type, "bittorrent_dht");
    }

    #[test]
    fn event_type_names_round_trip() {
        for (i, t) in EventType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
            if *t != EventType::Other {
                assert_eq!(EventType::from_name(t.name()), *t);
            }
        }
    }

    #[test]
    fn timestamps() {
        // 2016-02-29T15:04:14Z = 1456758254
        assert_eq!(
            EveTime::parse("2016-02-29T15:04:14Z"),
            Some(EveTime(1_456_758_254_000_000))
        );
        assert_eq!(
            EveTime::parse("2016-02-29T16:04:14.000123+0100"),
            Some(EveTime(1_456_758_254_000_123))
        );
        assert_eq!(
            EveTime::parse("2016-02-29T10:04:14.5-05:00"),
            Some(EveTime(1_456_758_254_500_000))
        );
        assert_eq!(
            EveTime::parse("1970-01-01T00:00:00.000000+0000"),
            Some(EveTime(0))
        );
        assert_eq!(
            EveTime::parse("1969-12-31T23:59:59.000000+0000"),
            Some(EveTime(-1_000_000))
        );
        for bad in [
            "",
            "2016-02-29",
            "2016-13-01T00:00:00Z",
            "2016-02-29T15:04:14.",
            "2016-02-29T15:04:14+01",
            "2016-02-29T15:04:14.123x",
        ] {
            assert_eq!(EveTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_remembered_day_follows_the_date() {
        // Alternating dates, a refused date between them, and a date whose digits are
        // cached but whose separators differ: each answer equals a fresh computation.
        let day = |d: &str| {
            days_from_civil(
                d[0..4].parse().unwrap(),
                d[5..7].parse().unwrap(),
                d[8..10].parse().unwrap(),
            )
        };
        for d in [
            "2024-02-29",
            "2024-03-01",
            "2024-02-29",
            "2024-02-30",
            "2024-03-01",
            "1999-12-31",
        ] {
            let t = EveTime::parse(&format!("{d}T00:00:01Z")).unwrap();
            assert_eq!(t.micros(), (day(d) * 86_400 + 1) * 1_000_000, "{d}");
        }
        assert_eq!(
            EveTime::parse("2024-03-01T00:00:01Z").map(|t| t.micros() / 1_000_000),
            Some(1_709_251_201)
        );
        assert_eq!(EveTime::parse("2024-13-01T00:00:01Z"), None);
        assert_eq!(
            EveTime::parse("2024-03-01T00:00:01Z").map(|t| t.micros() / 1_000_000),
            Some(1_709_251_201)
        );
        assert_eq!(EveTime::parse("2024/03/01T00:00:01Z"), None);
    }
}
