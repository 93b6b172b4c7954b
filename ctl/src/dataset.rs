//! `suriguardctl model export`: training data for the model stage, made by the plugin's
//! own feature code.
//!
//! Flow records (an eve.json, or a Zeek conn.log mapped onto EVE flow records) are
//! replayed in event-time order through the detection engine and the model stage's
//! [`Sequencer`], exactly as the plugin's worker does; every flow with a label becomes one
//! sample: its source's last T steps, unnormalised (training computes the normalisation
//! and writes it into the model's metadata). Output, in `--out`:
//!
//! - `x.npy`: float32 `(samples, T, features)`;
//! - `samples.csv`: `index,src,time_us,class,steps` per sample;
//! - `export.json`: extractor, feature names, T, counts per class, what was skipped.
//!
//! Labels of an eve.json come from a JSON-lines file of the traffic lab (`src`, `sport`,
//! `dst`, `dport`, `proto`, `class` per flow; a line without ports labels every flow of
//! `src`). A Zeek conn.log carries its own (IoT-23's `label` / `detailed-label`), mapped
//! by [`iot23_class`]. Flows without a label still enter their source's sequence; they
//! only do not become samples.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;

use crate::config::Config;
use crate::error::CtlError;
use serde::{Deserialize, Serialize};
use suriguard_decision::rfc3339;
use suriguard_detect::model::meta::Extractor;
use suriguard_detect::model::seq::Sequencer;
use suriguard_detect::Pipeline;
use suriguard_eve::{self as eve, EveTime, Proto};

/// What an export wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportSummary {
    pub input: String,
    pub extractor: Extractor,
    pub sequence_length: usize,
    pub features: Vec<String>,
    pub samples: u64,
    pub by_class: BTreeMap<String, u64>,
    pub flows: u64,
    pub unlabelled_flows: u64,
    pub unreadable_lines: u64,
    /// Zeek rows that cannot be a flow record (no packets either way).
    #[serde(default)]
    pub zeek_rows_without_packets: u64,
}

type FlowKey = (IpAddr, u16, IpAddr, u16, u8);

fn proto_num(p: Option<Proto>) -> u8 {
    match p {
        Some(Proto::Tcp) => 6,
        Some(Proto::Udp) => 17,
        Some(Proto::Icmp) => 1,
        Some(Proto::Icmpv6) => 58,
        _ => 0,
    }
}

fn proto_of(name: &str) -> u8 {
    match name.to_ascii_uppercase().as_str() {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        "IPV6-ICMP" | "ICMPV6" => 58,
        _ => 0,
    }
}

#[derive(Deserialize)]
struct LabelLine {
    src: IpAddr,
    #[serde(default)]
    sport: Option<u16>,
    #[serde(default)]
    dst: Option<IpAddr>,
    #[serde(default)]
    dport: Option<u16>,
    #[serde(default)]
    proto: Option<String>,
    class: String,
}

/// Labels by flow, and by source for lines without ports.
#[derive(Default)]
pub struct Labels {
    flows: HashMap<FlowKey, String>,
    sources: HashMap<IpAddr, String>,
}

impl Labels {
    pub fn read(path: &Path) -> Result<Labels, CtlError> {
        let f = std::fs::File::open(path).map_err(CtlError::file("read the labels", path))?;
        let mut labels = Labels::default();
        for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(CtlError::file("read the labels", path))?;
            if line.trim().is_empty() {
                continue;
            }
            let l: LabelLine =
                serde_json::from_str(&line).map_err(|source| CtlError::LabelLine {
                    path: path.to_owned(),
                    line: n + 1,
                    source,
                })?;
            match (l.sport, l.dst, l.dport) {
                (Some(sp), Some(dst), Some(dp)) => {
                    let p = proto_of(l.proto.as_deref().unwrap_or("TCP"));
                    labels.flows.insert((l.src, sp, dst, dp, p), l.class);
                }
                _ => {
                    labels.sources.insert(l.src, l.class);
                }
            }
        }
        Ok(labels)
    }

    fn get(&self, key: &FlowKey) -> Option<&str> {
        self.flows
            .get(key)
            .or_else(|| self.sources.get(&key.0))
            .map(String::as_str)
    }
}

/// IoT-23's labels as our classes: `Benign` → benign; `DDoS` → flood; `C&C*` and
/// `FileDownload` → c2; `*PortScan*` → scan; `Attack` (telnet/SSH login attempts) →
/// brute-force; anything else is left unlabelled.
pub fn iot23_class(label: &str, detailed: &str) -> Option<&'static str> {
    if label.eq_ignore_ascii_case("benign") {
        return Some("benign");
    }
    let d = detailed;
    if d.contains("DDoS") {
        Some("flood")
    } else if d.starts_with("C&C") || d == "FileDownload" {
        Some("c2")
    } else if d.contains("PortScan") {
        Some("scan")
    } else if d == "Attack" {
        Some("brute-force")
    } else {
        None
    }
}

/// Zeek history letters as TCP flags: originator (upper case) and responder (lower).
/// S = SYN, H = SYN+ACK, A = ACK, D = data (PSH+ACK), F = FIN, R = RST.
fn history_flags(history: &str) -> (u8, u8) {
    let (mut ts, mut tc) = (0u8, 0u8);
    for c in history.chars() {
        let bits = match c.to_ascii_uppercase() {
            'S' => 0x02,
            'H' => 0x12,
            'A' => 0x10,
            'D' => 0x18,
            'F' => 0x01,
            'R' => 0x04,
            _ => 0,
        };
        if c.is_ascii_uppercase() {
            ts |= bits;
        } else {
            tc |= bits;
        }
    }
    (ts, tc)
}

/// One Zeek conn.log row as an EVE flow record, with its label. See docs/MODELS.md for
/// the mapping and its gaps. `None` for a row that is not a flow Suricata would write.
pub fn zeek_row_to_eve(
    line: &str,
    id: u64,
) -> Result<Option<(String, Option<&'static str>)>, CtlError> {
    let bad = |reason: String| CtlError::ZeekRow { reason };
    let mut f: Vec<&str> = line.split('\t').collect();
    // IoT-23 separates its last three columns with spaces.
    if f.len() == 21 {
        let last = f.pop().unwrap_or("");
        f.extend(last.split_whitespace());
    }
    if f.len() < 20 {
        return Err(bad(format!("{} fields, expected at least 20", f.len())));
    }
    let num = |s: &str| -> u64 { s.parse().unwrap_or(0) };
    let ts: f64 = f[0]
        .parse()
        .map_err(|_| bad(format!("bad ts {:?}", f[0])))?;
    let (src, sport, dst, dport) = (f[2], num(f[3]), f[4], num(f[5]));
    src.parse::<IpAddr>()
        .map_err(|_| bad(format!("bad address {src:?}")))?;
    dst.parse::<IpAddr>()
        .map_err(|_| bad(format!("bad address {dst:?}")))?;
    let proto = match f[6] {
        "tcp" => "TCP",
        "udp" => "UDP",
        "icmp" => "ICMP",
        other => return Err(bad(format!("unknown proto {other:?}"))),
    };
    let duration: f64 = f[8].parse().unwrap_or(0.0);
    let (opk, rpk) = (num(f[16]), num(f[18]));
    if opk + rpk == 0 {
        return Ok(None);
    }
    // Suricata counts whole frames: add an Ethernet header per packet to Zeek's IP bytes.
    let (obytes, rbytes) = (num(f[17]) + 14 * opk, num(f[19]) + 14 * rpk);
    let start = (ts * 1e6).round() as i64;
    let end = start + (duration * 1e6).round() as i64;
    let time = |us: i64| rfc3339(EveTime(us)).replace('Z', "+0000");
    let app = match f[7] {
        "dns" => r#","app_proto":"dns""#,
        "http" => r#","app_proto":"http""#,
        "ssl" => r#","app_proto":"tls""#,
        "ssh" => r#","app_proto":"ssh""#,
        _ => "",
    };
    let state = match f[11] {
        "S0" | "OTH" => "new",
        "S1" => "established",
        _ => "closed",
    };
    let tcp = if proto == "TCP" {
        let (ts_f, tc_f) = history_flags(f[15]);
        format!(
            r#","tcp":{{"tcp_flags":"{:02x}","tcp_flags_ts":"{ts_f:02x}","tcp_flags_tc":"{tc_f:02x}"}}"#,
            ts_f | tc_f
        )
    } else {
        String::new()
    };
    let rec = format!(
        r#"{{"timestamp":"{t}","flow_id":{id},"event_type":"flow","src_ip":"{src}","src_port":{sport},"dest_ip":"{dst}","dest_port":{dport},"proto":"{proto}"{app},"flow":{{"pkts_toserver":{opk},"pkts_toclient":{rpk},"bytes_toserver":{obytes},"bytes_toclient":{rbytes},"start":"{t}","end":"{e}","age":{age},"state":"{state}"}}{tcp}}}"#,
        t = time(start),
        e = time(end),
        age = duration.floor() as u64,
    );
    let label = match (f.get(21), f.get(22)) {
        (Some(l), Some(d)) => iot23_class(l, d),
        _ => None,
    };
    Ok(Some((rec, label)))
}

/// Where the records come from.
pub enum Source<'a> {
    Eve { path: &'a Path, labels: Labels },
    Zeek { path: &'a Path },
}

/// Replays the input and writes the dataset to `out`.
pub fn export(
    source: Source<'_>,
    cfg: &Config,
    extractor: Extractor,
    sequence_length: usize,
    out: &Path,
) -> Result<ExportSummary, CtlError> {
    // The plugin's pipeline, built the way the plugin builds it, minus the heuristics'
    // decisions and the model: the features are what the plugin computes at run time.
    let mut pcfg = cfg.pipeline();
    pcfg.detect.heuristics = false;
    pcfg.model = Default::default();
    let (mut pipeline, _) = Pipeline::build(&pcfg);
    let mut seq = Sequencer::new(extractor, sequence_length, 1 << 22);
    let mut summary = ExportSummary {
        input: String::new(),
        extractor,
        sequence_length,
        features: extractor.features().iter().map(|s| s.to_string()).collect(),
        samples: 0,
        by_class: BTreeMap::new(),
        flows: 0,
        unlabelled_flows: 0,
        unreadable_lines: 0,
        zeek_rows_without_packets: 0,
    };
    // (record text, label) in replay order.
    let (records, labels): (Vec<(String, Option<String>)>, Option<Labels>) = match source {
        Source::Eve { path, labels } => {
            summary.input = path.display().to_string();
            let text = std::fs::read(path).map_err(CtlError::file("read", path))?;
            // Canonical order (equal keys by the records' bytes), as `analyze` replays;
            // a pipeline with a model holds nothing back, so this is the order the
            // model stage scores flows in.
            let mut recs: Vec<_> = text
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .map(|l| (eve::parse(l).ok().map(|r| r.replay_key()), l))
                .collect();
            recs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let recs = recs
                .into_iter()
                .map(|(_, l)| (String::from_utf8_lossy(l).into_owned(), None))
                .collect();
            (recs, Some(labels))
        }
        Source::Zeek { path } => {
            summary.input = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(CtlError::file("read", path))?;
            let mut recs = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                match zeek_row_to_eve(line, n as u64 + 1) {
                    Ok(Some((rec, label))) => recs.push((rec, label.map(str::to_owned))),
                    Ok(None) => summary.zeek_rows_without_packets += 1,
                    Err(_) => summary.unreadable_lines += 1,
                }
            }
            // conn.log is ordered by start time already; make sure.
            let key = |r: &String| eve::parse(r.as_bytes()).ok().map(|r| r.replay_key());
            recs.sort_by_cached_key(|(r, _)| key(r));
            (recs, None)
        }
    };
    std::fs::create_dir_all(out).map_err(CtlError::file("create", out))?;
    let csv_path = out.join("samples.csv");
    let csv_err = || CtlError::file("write", &csv_path);
    let mut csv = BufWriter::new(std::fs::File::create(&csv_path).map_err(csv_err())?);
    writeln!(csv, "index,src,time_us,class,steps").map_err(csv_err())?;
    let per = seq.sample_len();
    let mut x: Vec<f32> = Vec::new();
    for (line, zeek_label) in &records {
        let Ok(rec) = eve::parse(line.as_bytes()) else {
            summary.unreadable_lines += 1;
            continue;
        };
        pipeline.handle_record(&rec);
        let engine = pipeline.engine().expect("built with an engine");
        let Some(step) = seq.observe(&rec, engine) else {
            continue;
        };
        summary.flows += 1;
        let key = (
            step.src,
            rec.src_port.unwrap_or(0),
            step.dst,
            rec.dest_port.unwrap_or(0),
            proto_num(rec.proto),
        );
        let class = match (&labels, zeek_label) {
            (_, Some(c)) => Some(c.as_str()),
            (Some(l), None) => l.get(&key),
            _ => None,
        };
        let Some(class) = class else {
            summary.unlabelled_flows += 1;
            continue;
        };
        let at = x.len();
        x.resize(at + per, 0.0);
        seq.snapshot(step.src, None, &mut x[at..]);
        writeln!(
            csv,
            "{},{},{},{class},{}",
            summary.samples, step.src, step.time_us, step.steps
        )
        .map_err(csv_err())?;
        summary.samples += 1;
        *summary.by_class.entry(class.to_owned()).or_default() += 1;
    }
    csv.flush().map_err(csv_err())?;
    write_npy(
        &out.join("x.npy"),
        &x,
        &[
            summary.samples as usize,
            sequence_length,
            extractor.features().len(),
        ],
    )?;
    let export = out.join("export.json");
    std::fs::write(
        &export,
        serde_json::to_string_pretty(&summary).map_err(CtlError::encode("the export summary"))?
            + "\n",
    )
    .map_err(CtlError::file("write", &export))?;
    Ok(summary)
}

/// A little-endian float32 `.npy` file (format version 1.0).
fn write_npy(path: &Path, data: &[f32], shape: &[usize]) -> Result<(), CtlError> {
    let dims = shape.iter().map(|d| format!("{d}, ")).collect::<String>();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        dims.trim_end_matches(' ')
    );
    // Magic (6) + version (2) + length (2) + header, padded with spaces and a newline to
    // a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let failed = || CtlError::file("write", path);
    let mut out = BufWriter::new(std::fs::File::create(path).map_err(failed())?);
    let mut head = b"\x93NUMPY\x01\x00".to_vec();
    head.extend_from_slice(&(header.len() as u16).to_le_bytes());
    head.extend_from_slice(header.as_bytes());
    out.write_all(&head).map_err(failed())?;
    for v in data {
        out.write_all(&v.to_le_bytes()).map_err(failed())?;
    }
    out.flush().map_err(failed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeek_rows_map_onto_flow_records() {
        let row = "1545403848.981338\tCDrkrSobGYxHhYfth\t192.168.1.195\t41040\t185.244.25.235\t80\ttcp\thttp\t1.477656\t149\t128252\tSF\t-\t-\t2896\tShADadttcfF\t94\t5525\t96\t139044\t-   Benign   -";
        let (rec, label) = zeek_row_to_eve(row, 7).unwrap().unwrap();
        assert_eq!(label, Some("benign"));
        let r = eve::parse(rec.as_bytes()).unwrap();
        let f = r.flow.as_ref().unwrap();
        assert_eq!(f.pkts_toserver, Some(94));
        assert_eq!(f.bytes_toserver, Some(5525 + 14 * 94));
        assert_eq!(f.bytes_toclient, Some(139_044 + 14 * 96));
        assert_eq!(
            f.end.unwrap().micros() - f.start.unwrap().micros(),
            1_477_656
        );
        assert_eq!(r.app_proto.as_deref(), Some("http"));
        let tcp = r.tcp.as_ref().unwrap();
        // S, A, D, F from the originator; h (SYN+ACK), a, d, f from the responder (t and
        // c, retransmission and bad checksum, are no flags).
        assert_eq!(tcp.tcp_flags_ts.unwrap().0, 0x02 | 0x10 | 0x18 | 0x01);
        assert_eq!(tcp.tcp_flags_tc.unwrap().0, 0x12 | 0x10 | 0x18 | 0x01);

        let syn = "1545403824.181240\tCY9lJW3gh1Eje4usP6\t192.168.1.195\t41040\t185.244.25.235\t6667\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t60\t0\t0\t-   Malicious   C&C";
        let (rec, label) = zeek_row_to_eve(syn, 8).unwrap().unwrap();
        assert_eq!(label, Some("c2"));
        let r = eve::parse(rec.as_bytes()).unwrap();
        assert_eq!(r.tcp.as_ref().unwrap().tcp_flags_ts.unwrap().0, 0x02);
        assert_eq!(r.flow.as_ref().unwrap().pkts_toclient, Some(0));

        let empty = "1545403824.181240\tC\t192.168.1.195\t65279\t123.59.209.185\t80\ttcp\t-\t-\t-\t-\tOTH\t-\t-\t0\tC\t0\t0\t0\t0\t-   Malicious   DDoS";
        assert!(zeek_row_to_eve(empty, 9).unwrap().is_none());
        assert!(zeek_row_to_eve("garbage", 1).is_err());
    }

    #[test]
    fn iot23_labels_become_our_classes() {
        assert_eq!(iot23_class("Benign", "-"), Some("benign"));
        assert_eq!(iot23_class("Malicious", "DDoS"), Some("flood"));
        assert_eq!(iot23_class("Malicious", "C&C-HeartBeat"), Some("c2"));
        assert_eq!(
            iot23_class("Malicious", "PartOfAHorizontalPortScan"),
            Some("scan")
        );
        assert_eq!(iot23_class("Malicious", "Attack"), Some("brute-force"));
        assert_eq!(iot23_class("Malicious", "Okiru"), None);
    }

    #[test]
    fn npy_header_is_aligned_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        write_npy(&p, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let h = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(
            h.contains("'shape': (1, 2, 3,)") || h.contains("'shape': (1, 2, 3)"),
            "{h}"
        );
        assert_eq!(b.len(), 10 + hl + 24);
        assert_eq!(
            f32::from_le_bytes([b[10 + hl], b[11 + hl], b[12 + hl], b[13 + hl]]),
            1.0
        );
    }
}
