//! The allowlist file (`AllowFile::parse`): one address or CIDR per line, comments,
//! duplicates dropped, bad lines skipped and reported. Checked: entries are unique, and
//! entries plus skipped lines never exceed the lines of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suriguard_net::AllowFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = AllowFile::parse(text);
    let lines = text.lines().count();
    assert!(f.entries.len() + f.skipped.len() <= lines);
    let mut seen = std::collections::HashSet::new();
    for (c, _) in &f.entries {
        assert!(seen.insert(*c), "repeated {c}");
        // An entry written back reads as itself (the file is rewritten by `add`/`remove`).
        assert_eq!(c.to_string().parse::<suriguard_net::Cidr>().as_ref(), Ok(c));
    }
    let _ = f.cidrs().count();
});
