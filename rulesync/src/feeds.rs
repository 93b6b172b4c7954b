//! MISP's default feed list (`app/files/feed-metadata/defaults.json` in MISP's
//! repository): the feeds MISP users actually subscribe to, listed and turned into
//! rulesync source tables. Fetching a feed stays the user's choice: `feeds enable` only
//! writes the table.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SyncError;

/// Where `feeds` looks for the list when `--from` is not given: the environment, then
/// the path the Debian package installs it to.
pub fn default_list() -> PathBuf {
    std::env::var_os("SURIGUARD_MISP_FEEDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/share/suriguard/misp-feed-metadata-defaults.json".into())
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Feed")]
    feed: Feed,
    #[serde(rename = "Tag", default)]
    tag: Option<Tag>,
}

#[derive(Deserialize)]
struct Feed {
    name: String,
    #[serde(default)]
    provider: String,
    url: String,
    source_format: String,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    settings: Option<String>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
}

/// One feed of the list, as rulesync would pull it.
#[derive(Debug, Clone, Serialize)]
pub struct DefaultFeed {
    pub name: String,
    pub provider: String,
    pub url: String,
    /// MISP's format: `misp`, `csv` or `freetext`.
    pub format: String,
    /// rulesync's source type for it: `misp-feed`, `csv` or `text`.
    pub source_type: &'static str,
    /// On in MISP's defaults.
    pub enabled_in_misp: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// CSV: the value's column (1-based) and the delimiter, from MISP's settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// What MISP's settings ask that rulesync does not do (an exclusion regex, further
    /// value columns), said in the source table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Reads the list. A feed of a format rulesync cannot read is an error naming it.
pub fn load(path: &Path) -> Result<Vec<DefaultFeed>, SyncError> {
    let text = std::fs::read_to_string(path).map_err(SyncError::io("read", path))?;
    let entries: Vec<Entry> = serde_json::from_str(&text).map_err(|e| SyncError::FeedList {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    entries
        .into_iter()
        .map(|e| {
            let f = e.feed;
            let source_type = match f.source_format.as_str() {
                "misp" => "misp-feed",
                "csv" => "csv",
                "freetext" => "text",
                other => {
                    return Err(SyncError::FeedList {
                        path: path.to_owned(),
                        message: format!("feed {:?}: unknown source_format {other:?}", f.name),
                    })
                }
            };
            let mut feed = DefaultFeed {
                name: f.name,
                provider: f.provider,
                url: f.url,
                format: f.source_format,
                source_type,
                enabled_in_misp: f.enabled,
                tag: e.tag.map(|t| t.name),
                column: None,
                delimiter: None,
                notes: Vec::new(),
            };
            settings(&mut feed, f.settings.as_deref());
            Ok(feed)
        })
        .collect()
}

/// MISP keeps a feed's settings as a JSON string: `{"csv": {"value": "2,3", "delimiter":
/// ","}, "common": {"excluderegex": "..."}}`.
fn settings(feed: &mut DefaultFeed, raw: Option<&str>) {
    let Some(v) = raw.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) else {
        return;
    };
    if feed.source_type == "csv" {
        let cols: Vec<usize> = v["csv"]["value"]
            .as_str()
            .unwrap_or("")
            .split(',')
            .filter_map(|c| c.trim().parse().ok())
            .filter(|&c| c > 0)
            .collect();
        feed.column = Some(cols.first().copied().unwrap_or(1));
        if cols.len() > 1 {
            feed.notes.push(format!(
                "MISP reads values from columns {:?}; rulesync reads one column, the first",
                cols
            ));
        }
        feed.delimiter = v["csv"]["delimiter"]
            .as_str()
            .and_then(|d| d.chars().next())
            .or(Some(','));
    }
    if let Some(re) = v["common"]["excluderegex"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        feed.notes.push(format!(
            "MISP excludes values matching {re:?}; rulesync does not (its warninglists apply)"
        ));
    }
}

/// The feed named `name`: an exact (case-insensitive) name, else the only one whose
/// name contains it.
pub fn find<'a>(feeds: &'a [DefaultFeed], name: &str) -> Result<&'a DefaultFeed, SyncError> {
    let want = name.to_lowercase();
    if let Some(f) = feeds.iter().find(|f| f.name.to_lowercase() == want) {
        return Ok(f);
    }
    let hits: Vec<&DefaultFeed> = feeds
        .iter()
        .filter(|f| f.name.to_lowercase().contains(&want))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        _ => Err(SyncError::FeedName {
            name: name.to_owned(),
            candidates: hits.iter().map(|f| f.name.clone()).collect(),
        }),
    }
}

/// A source name for the feed: lower-case letters, digits and dashes.
pub fn source_name(feed: &DefaultFeed) -> String {
    let mut out = String::new();
    for c in feed.name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let name = out.trim_end_matches('-');
    if name.is_empty() {
        "misp-feed".to_owned()
    } else {
        name.to_owned()
    }
}

/// Text from the list made safe for one comment line: a newline in a feed's name must
/// not end the comment and start a table of its own.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The `[[source]]` table for the feed, with where it came from in comments.
pub fn source_table(feed: &DefaultFeed) -> String {
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut t = format!(
        "# {} ({}), from MISP's default feed list; format {}{}\n",
        comment(&feed.name),
        if feed.provider.is_empty() {
            "provider unknown".to_owned()
        } else {
            comment(&feed.provider)
        },
        comment(&feed.format),
        feed.tag
            .as_deref()
            .map(|t| format!(", tagged {}", comment(t)))
            .unwrap_or_default()
    );
    for n in &feed.notes {
        t += &format!("# note: {}\n", comment(n));
    }
    t += "[[source]]\n";
    t += &format!("name = {}\n", q(&source_name(feed)));
    t += &format!("type = {}\n", q(feed.source_type));
    t += &format!("url = {}\n", q(&feed.url));
    if let (Some(c), Some(d)) = (feed.column, feed.delimiter) {
        t += &format!("column = {c}\ndelimiter = {}\n", q(&d.to_string()));
    }
    if feed.source_type == "misp-feed" {
        // A MISP feed's events say themselves which attributes are for detection.
        t += "to-ids = true\n";
    }
    t
}

/// Appends the table to `file` (the configuration, usually), or prints it.
pub fn write_table(table: &str, to: Option<&Path>) -> Result<(), SyncError> {
    match to {
        None => {
            print!("{table}");
            Ok(())
        }
        Some(p) => {
            // A source of that name already there: the configuration would no longer
            // load. Say so instead of appending.
            if let Ok(text) = std::fs::read_to_string(p) {
                if let Some(name) = table.lines().find_map(|l| l.strip_prefix("name = ")) {
                    if text.lines().any(|l| l.trim() == format!("name = {name}")) {
                        return Err(SyncError::FeedName {
                            name: format!("{name} is already a source in {}", p.display()),
                            candidates: Vec::new(),
                        });
                    }
                }
            }
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .map_err(SyncError::io("append to", p))?;
            writeln!(f, "\n{table}").map_err(SyncError::io("append to", p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(format: &str, settings: &str) -> DefaultFeed {
        let doc = serde_json::json!([{"Feed": {
            "name": "Example: Feed (v2)", "provider": "example.org", "url": "https://example.org/f",
            "source_format": format, "enabled": true, "settings": settings}}]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("defaults.json");
        std::fs::write(&p, doc.to_string()).unwrap();
        load(&p).unwrap().remove(0)
    }

    #[test]
    fn csv_settings_become_column_and_delimiter_and_what_is_not_done_is_said() {
        let f = feed(
            "csv",
            r#"{"csv":{"value":"3,4","delimiter":";"},"common":{"excluderegex":"^10\\."}}"#,
        );
        assert_eq!(
            (f.column, f.delimiter, f.source_type),
            (Some(3), Some(';'), "csv")
        );
        assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
        let t = source_table(&f);
        let parsed: toml::Value = toml::from_str(&t).unwrap();
        let s = &parsed["source"][0];
        assert_eq!(s["name"].as_str(), Some("example-feed-v2"));
        assert_eq!(s["column"].as_integer(), Some(3));
        assert_eq!(s["delimiter"].as_str(), Some(";"));
        assert!(
            t.contains("# note: MISP reads values from columns [3, 4]"),
            "{t}"
        );
        // No settings at all: the first column, commas.
        let f = feed("csv", "");
        assert_eq!((f.column, f.delimiter), (None, None));
        let f = feed("csv", r#"{"csv":{"value":"","delimiter":""}}"#);
        assert_eq!((f.column, f.delimiter), (Some(1), Some(',')));
    }

    #[test]
    fn names_find_one_feed_or_say_which() {
        let mut a = feed("freetext", "");
        a.name = "Alpha list".into();
        let mut b = feed("misp", "");
        b.name = "Alpha list extended".into();
        let all = [a, b];
        assert_eq!(find(&all, "alpha LIST").unwrap().name, "Alpha list");
        assert_eq!(find(&all, "extended").unwrap().name, "Alpha list extended");
        let e = find(&all, "alpha").map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("2 feeds"), "{e}");
        let e = find(&all, "beta").map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("no feed"), "{e}");
    }

    #[test]
    fn text_from_the_list_cannot_leave_its_comment() {
        let mut f = feed("freetext", "");
        f.name = "Evil\n[suricata]\nbinary = \"/tmp/x\"".into();
        let t = source_table(&f);
        let parsed: toml::Value = toml::from_str(&t).unwrap();
        assert!(parsed.get("suricata").is_none(), "{t}");
        assert_eq!(parsed["source"][0]["type"].as_str(), Some("text"));
        f.name = "***".into();
        assert_eq!(source_name(&f), "misp-feed");
    }

    #[test]
    fn an_unknown_format_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.json");
        std::fs::write(
            &p,
            r#"[{"Feed":{"name":"X","url":"u","source_format":"stix"}}]"#,
        )
        .unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("\"X\"") && e.contains("stix"), "{e}");
    }
}
