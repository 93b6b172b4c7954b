//! A small, strict JSON reader for the worker's hot path.
//!
//! It walks the bytes once, hands out strings that borrow from the input unless they carry
//! escapes, decodes numbers in place, and skips whole values it is not asked about while
//! still checking their grammar. It knows nothing of EVE: [`crate`] drives it field
//! by field. Accepts exactly RFC 8259 JSON (no comments, no trailing commas, no NaN), with
//! one leniency shared with serde_json: lone UTF-16 surrogates in `\\u` escapes are refused
//! in strings that are read but let through in skipped values. The whole document must be
//! UTF-8 (serde_json only checks the strings it decodes).

use std::borrow::Cow;
use std::fmt;

/// Nesting deeper than this is refused (serde_json's limit is also 128).
pub const MAX_DEPTH: usize = 128;

/// How many names [`Reader::field`] compares whole before it scans and searches.
const LOOK_AHEAD: usize = 8;

/// Why a record was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset in the record where reading stopped.
    pub offset: usize,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The record ended in the middle of a value.
    Eof,
    /// A byte that cannot start or continue what was expected (`what`).
    Expected(&'static str),
    /// A number whose grammar is wrong.
    BadNumber,
    /// A well-formed number that does not fit the field (negative, fractional, too big).
    OutOfRange(&'static str),
    /// A bad `\` escape or a lone UTF-16 surrogate.
    BadEscape,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A string that is not UTF-8.
    InvalidUtf8,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Something after the closing brace of the record.
    TrailingCharacters,
    /// A field given twice.
    DuplicateField(&'static str),
    /// A field that must be present and is not.
    MissingField(&'static str),
    /// A field of the right JSON type whose value is not acceptable (`field`).
    InvalidValue(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.kind {
            ErrorKind::Eof => f.write_str("record ends in the middle of a value")?,
            ErrorKind::Expected(what) => write!(f, "expected {what}")?,
            ErrorKind::BadNumber => f.write_str("malformed number")?,
            ErrorKind::OutOfRange(field) => write!(f, "number out of range for `{field}`")?,
            ErrorKind::BadEscape => f.write_str("invalid escape in string")?,
            ErrorKind::ControlCharacter => f.write_str("control character in string")?,
            ErrorKind::InvalidUtf8 => f.write_str("string is not UTF-8")?,
            ErrorKind::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels")?,
            ErrorKind::TrailingCharacters => f.write_str("trailing characters after the record")?,
            ErrorKind::DuplicateField(field) => write!(f, "duplicate field `{field}`")?,
            ErrorKind::MissingField(field) => write!(f, "missing field `{field}`")?,
            ErrorKind::InvalidValue(field) => write!(f, "invalid value for `{field}`")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A field name for [`Reader::field`], with its quoted spelling ready to compare with 16
/// bytes of a record at once (names of up to 14 bytes; longer ones are found by the
/// general path).
#[derive(Debug, Clone, Copy)]
pub struct Name {
    pub name: &'static str,
    /// `"name"` as little-endian bytes, and the mask of its length (0 when too long).
    quoted: u128,
    mask: u128,
    /// Length of `"name"` (0 when too long).
    len: usize,
}

impl Name {
    pub const fn new(name: &'static str) -> Name {
        let b = name.as_bytes();
        let len = b.len() + 2;
        if len > 16 {
            return Name {
                name,
                quoted: 0,
                mask: 0,
                len: 0,
            };
        }
        let mut quoted = b'"' as u128;
        let mut k = 0;
        while k < b.len() {
            quoted |= (b[k] as u128) << (8 * (k + 1));
            k += 1;
        }
        quoted |= (b'"' as u128) << (8 * (len - 1));
        let mask = if len == 16 {
            u128::MAX
        } else {
            (1u128 << (8 * len)) - 1
        };
        Name {
            name,
            quoted,
            mask,
            len,
        }
    }
}

/// A cursor over one JSON document.
pub struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Bytes that end the scan of a string: `"`, `\`, control characters.
#[inline]
fn is_stop(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// The index of the first byte at or after `i` that ends a string's plain run (see
/// [`is_stop`]), or `b.len()`. Eight bytes at a time: a byte is flagged when it equals
/// `"` or `\` or is below 0x20 (the classic "has zero byte" / "has byte less than"
/// tricks; only bytes *after* the first flagged one can be flagged falsely, so the lowest
/// flag is exact).
#[inline]
fn scan(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = x ^ (ONES * b'"' as u64);
        let slash = x ^ (ONES * b'\\' as u64);
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let ctrl = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let hit = zero(quote) | zero(slash) | ctrl;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !is_stop(b[i]) {
        i += 1;
    }
    i
}

impl<'a> Reader<'a> {
    /// A reader over `b`, which must be UTF-8 as a whole (RFC 8259 §8.1); checking it
    /// once here lets every string be handed out without checking it again.
    pub fn new(b: &'a [u8]) -> Result<Self> {
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Reader::on_str(s)),
            Err(e) => Err(Error {
                offset: e.valid_up_to(),
                kind: ErrorKind::InvalidUtf8,
            }),
        }
    }

    pub fn on_str(s: &'a str) -> Self {
        Reader {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }

    /// The current byte offset.
    pub fn offset(&self) -> usize {
        self.i
    }

    pub fn err<T>(&self, kind: ErrorKind) -> Result<T> {
        Err(Error {
            offset: self.i,
            kind,
        })
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next significant byte, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Result<u8> {
        self.ws();
        match self.b.get(self.i) {
            Some(&c) => Ok(c),
            None => self.err(ErrorKind::Eof),
        }
    }

    #[inline]
    fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            self.err(ErrorKind::Expected(what))
        }
    }

    /// After the document: only whitespace may follow.
    pub fn end(&mut self) -> Result<()> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            self.err(ErrorKind::TrailingCharacters)
        }
    }

    /// Consumes `null` if it comes next.
    #[inline]
    pub fn null(&mut self) -> Result<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else if self.b.len() < self.i + word.len()
            && self.b[self.i..] == word[..self.b.len() - self.i]
        {
            self.i = self.b.len();
            self.err(ErrorKind::Eof)
        } else {
            self.err(ErrorKind::Expected("a value"))
        }
    }

    /// Starts an object: consumes `{`.
    #[inline]
    pub fn object(&mut self) -> Result<()> {
        self.expect(b'{', "`{`")
    }

    /// The next key of the current object, as its index in `names` (`Some(None)` for a
    /// key not among them), with its `:` consumed; `None` at the closing brace. `first`
    /// is true for the first call on an object. `next` is the index expected next: that
    /// name and the few after it ([`LOOK_AHEAD`]) are compared first with the record's
    /// next 16 bytes ([`Name`]), and on a match no scan or search is needed; afterwards
    /// `next` is the index after the key found. A key spelled with escapes is decoded
    /// and found like any other.
    #[inline(always)]
    pub fn field(
        &mut self,
        first: bool,
        names: &[Name],
        next: &mut usize,
    ) -> Result<Option<Option<usize>>> {
        match self.peek()? {
            b'}' => {
                self.i += 1;
                return Ok(None);
            }
            b',' if !first => {
                self.i += 1;
                self.ws();
            }
            _ if first => {}
            _ => return self.err(ErrorKind::Expected("`,` or `}`")),
        }
        let i = self.i;
        if let Some(chunk) = self.b.get(i..i + 16) {
            let x = u128::from_le_bytes(chunk.try_into().expect("16 bytes"));
            let end = (*next + LOOK_AHEAD).min(names.len());
            // An index loop: slicing `names` first cost 2 % of a flow record's parse.
            #[allow(clippy::needless_range_loop)]
            for k in *next..end {
                let name = &names[k];
                if name.len != 0 && x & name.mask == name.quoted {
                    self.i = i + name.len;
                    // Suricata writes no space before the colon.
                    if self.b.get(self.i) == Some(&b':') {
                        self.i += 1;
                    } else {
                        self.expect(b':', "`:`")?;
                    }
                    *next = k + 1;
                    return Ok(Some(Some(k)));
                }
            }
        }
        let key = self.string()?;
        self.expect(b':', "`:`")?;
        let found = names.iter().position(|n| n.name == &*key);
        if let Some(k) = found {
            *next = k + 1;
        }
        Ok(Some(found))
    }

    /// Starts an array: consumes `[`.
    pub fn array(&mut self) -> Result<()> {
        self.expect(b'[', "`[`")
    }

    /// Whether another element of the current array follows (its `,` consumed); false at
    /// its closing bracket. `first` is true for the first call on an array.
    pub fn item(&mut self, first: bool) -> Result<bool> {
        match self.peek()? {
            b']' => {
                self.i += 1;
                Ok(false)
            }
            b',' if !first => {
                self.i += 1;
                Ok(true)
            }
            _ if first => Ok(true),
            _ => self.err(ErrorKind::Expected("`,` or `]`")),
        }
    }

    pub fn bool(&mut self) -> Result<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => self.err(ErrorKind::Expected("a boolean")),
        }
    }

    /// A string value, borrowed unless it had escapes.
    #[inline]
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        if self.peek()? != b'"' {
            return self.err(ErrorKind::Expected("a string"));
        }
        self.i += 1;
        let start = self.i;
        let i = scan(self.b, start);
        self.i = i;
        match self.b.get(i) {
            None => self.err(ErrorKind::Eof),
            Some(b'"') => {
                self.i += 1;
                // Both ends sit next to ASCII quotes, so they are char boundaries.
                Ok(Cow::Borrowed(&self.s[start..i]))
            }
            Some(b'\\') => self.escaped(start),
            Some(_) => self.err(ErrorKind::ControlCharacter),
        }
    }

    /// The slow path of [`Reader::string`]: the string has escapes; `start` is just after
    /// its opening quote and the cursor is on the first backslash.
    fn escaped(&mut self, start: usize) -> Result<Cow<'a, str>> {
        let mut out: Vec<u8> = Vec::with_capacity(self.i - start + 16);
        out.extend_from_slice(&self.b[start..self.i]);
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.err(ErrorKind::Eof);
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return self.err(ErrorKind::Eof);
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i -= 1;
                            return self.err(ErrorKind::BadEscape);
                        }
                    }
                }
                c if c < 0x20 => return self.err(ErrorKind::ControlCharacter),
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        // Runs copied from valid UTF-8 between ASCII escapes, plus encoded chars.
        Ok(Cow::Owned(String::from_utf8(out).expect("UTF-8 pieces")))
    }

    fn hex4(&mut self) -> Result<u16> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            self.i = self.b.len();
            return self.err(ErrorKind::Eof);
        };
        let mut v = 0u16;
        for &d in h {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.err(ErrorKind::BadEscape),
            };
            v = v << 4 | n as u16;
        }
        self.i += 4;
        Ok(v)
    }

    /// After `\u`: one code point, joining a surrogate pair.
    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex4()?;
        let cp = match hi {
            0xD800..=0xDBFF => {
                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                    return self.err(if self.i + 2 > self.b.len() {
                        ErrorKind::Eof
                    } else {
                        ErrorKind::BadEscape
                    });
                }
                self.i += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return self.err(ErrorKind::BadEscape);
                }
                0x10000 + ((hi as u32 - 0xD800) << 10) + (lo as u32 - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.err(ErrorKind::BadEscape),
            v => v as u32,
        };
        match char::from_u32(cp) {
            Some(c) => Ok(c),
            None => self.err(ErrorKind::BadEscape),
        }
    }

    /// A non-negative integer that fits in `u64` (`field` names it in errors).
    #[inline]
    pub fn u64(&mut self, field: &'static str) -> Result<u64> {
        let c = self.peek()?;
        let start = self.i;
        if c == b'-' {
            self.number()?;
            return Err(Error {
                offset: start,
                kind: ErrorKind::OutOfRange(field),
            });
        }
        if !c.is_ascii_digit() {
            return self.err(ErrorKind::Expected("a number"));
        }
        let mut v: u64 = 0;
        let mut overflow = false;
        let b = self.b;
        let mut i = self.i;
        while let Some(&d) = b.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            match v
                .checked_mul(10)
                .and_then(|v| v.checked_add((d - b'0') as u64))
            {
                Some(n) => v = n,
                None => overflow = true,
            }
            i += 1;
        }
        if c == b'0' && i - self.i > 1 {
            self.i += 1;
            return self.err(ErrorKind::BadNumber);
        }
        let fractional = matches!(b.get(i), Some(b'.' | b'e' | b'E'));
        if fractional || overflow {
            // Let the full grammar decide between "malformed" and "does not fit".
            self.i = start;
            self.number()?;
            return Err(Error {
                offset: start,
                kind: ErrorKind::OutOfRange(field),
            });
        }
        self.i = i;
        Ok(v)
    }

    /// An integer that fits in `T` (u8, u16, u32).
    #[inline]
    pub fn uint<T: TryFrom<u64>>(&mut self, field: &'static str) -> Result<T> {
        let start = self.i;
        let v = self.u64(field)?;
        T::try_from(v).map_err(|_| Error {
            offset: start,
            kind: ErrorKind::OutOfRange(field),
        })
    }

    /// Checks one number's grammar and moves past it.
    fn number(&mut self) -> Result<()> {
        let b = self.b;
        let mut i = self.i;
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - s
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            None => {
                self.i = i;
                return self.err(ErrorKind::Eof);
            }
            _ => {
                self.i = i;
                return self.err(ErrorKind::BadNumber);
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                self.i = i;
                return self.err(if i == b.len() {
                    ErrorKind::Eof
                } else {
                    ErrorKind::BadNumber
                });
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.i = i;
                return self.err(if i == b.len() {
                    ErrorKind::Eof
                } else {
                    ErrorKind::BadNumber
                });
            }
        }
        self.i = i;
        Ok(())
    }

    /// Moves past one whole value of any type, checking its grammar, and returns the
    /// byte range it occupied.
    pub fn skip(&mut self) -> Result<std::ops::Range<usize>> {
        self.ws();
        let start = self.i;
        self.skip_at(0)?;
        Ok(start..self.i)
    }

    // Objects and arrays keep their own separator loops: folding them into one helper
    // taking a closure measured 3-5 % slower on the detection benchmark.
    fn skip_at(&mut self, depth: usize) -> Result<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return self.err(ErrorKind::TooDeep);
                }
                self.i += 1;
                let mut first = true;
                loop {
                    match self.peek()? {
                        b'}' => {
                            self.i += 1;
                            return Ok(());
                        }
                        b',' if !first => self.i += 1,
                        _ if first => {}
                        _ => return self.err(ErrorKind::Expected("`,` or `}`")),
                    }
                    first = false;
                    if self.peek()? != b'"' {
                        return self.err(ErrorKind::Expected("a string"));
                    }
                    self.skip_string()?;
                    self.expect(b':', "`:`")?;
                    self.skip_at(depth + 1)?;
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return self.err(ErrorKind::TooDeep);
                }
                self.i += 1;
                let mut first = true;
                loop {
                    match self.peek()? {
                        b']' => {
                            self.i += 1;
                            return Ok(());
                        }
                        b',' if !first => self.i += 1,
                        _ if first => {}
                        _ => return self.err(ErrorKind::Expected("`,` or `]`")),
                    }
                    first = false;
                    self.skip_at(depth + 1)?;
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.err(ErrorKind::Expected("a value")),
        }
    }

    /// Moves past a string without decoding it (escapes are checked, surrogate pairing
    /// is not).
    fn skip_string(&mut self) -> Result<()> {
        self.i += 1; // the opening quote
        let b = self.b;
        loop {
            self.i = scan(b, self.i);
            match b.get(self.i) {
                None => return self.err(ErrorKind::Eof),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match b.get(self.i) {
                        None => return self.err(ErrorKind::Eof),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(b'u') => {
                            self.i += 1;
                            self.hex4()?;
                        }
                        Some(_) => return self.err(ErrorKind::BadEscape),
                    }
                }
                Some(_) => return self.err(ErrorKind::ControlCharacter),
            }
        }
    }

    /// The raw text of a range previously returned by [`Reader::skip`].
    pub fn raw(&self, r: std::ops::Range<usize>) -> &'a str {
        &self.s[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(s: &str) -> Result<()> {
        let mut r = Reader::on_str(s);
        r.skip()?;
        r.end()
    }

    #[test]
    fn skips_what_serde_json_accepts_and_refuses_what_it_refuses() {
        let docs = [
            r#"{}"#,
            r#"[]"#,
            r#"{"a":[1,-2.5e+3,0,true,false,null,"x\"y\\u00e9\ud83d\ude00"],"b":{"c":{}}}"#,
            r#"  {"a" : 1 }  "#,
            r#"-0"#,
            r#"0.5E-7"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"01"#,
            r#"1."#,
            r#"-"#,
            r#".5"#,
            r#"1e"#,
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\u00zz""#,
            r#""\u12""#,
            "\"a\tb\"",
            r#"tru"#,
            r#"nul"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            r#""abc"#,
            r#"[[[[]]]]"#,
        ];
        for d in docs {
            let ours = skip_all(d).is_ok();
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(d).is_ok();
            assert_eq!(ours, theirs, "{d:?}");
        }
    }

    #[test]
    fn scan_finds_the_first_stop_byte_like_a_byte_loop() {
        // Every byte value at every position of a 20-byte run, over a background of
        // bytes near the thresholds (so borrows between lanes are exercised).
        let background = [b'!', b'#', b'[', b']', 0x20, 0x7f, 0x80, 0xff, b'a'];
        for &bg in &background {
            for pos in 0..20 {
                for v in 0..=255u8 {
                    let mut b = vec![bg; 20];
                    b[pos] = v;
                    for start in [0, 3] {
                        let naive = (start..b.len()).find(|&i| is_stop(b[i])).unwrap_or(b.len());
                        assert_eq!(scan(&b, start), naive, "{b:?} from {start}");
                    }
                }
            }
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(skip_all(&deep).unwrap_err().kind, ErrorKind::TooDeep);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(skip_all(&ok).is_ok());
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut r = Reader::on_str(r#""plain" "a\/b\n\u00e9""#);
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
        let s = r.string().unwrap();
        assert!(matches!(s, Cow::Owned(_)));
        assert_eq!(s, "a/b\n\u{e9}");
        let e = Reader::new(b"\"ab\xff\"").err().unwrap();
        assert_eq!((e.offset, e.kind), (3, ErrorKind::InvalidUtf8));
    }

    #[test]
    fn integers_fit_or_are_refused() {
        let u = |s: &str| Reader::on_str(s).u64("f").map_err(|e| e.kind);
        assert_eq!(u("0"), Ok(0));
        assert_eq!(u("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(u("18446744073709551616"), Err(ErrorKind::OutOfRange("f")));
        assert_eq!(u("-1"), Err(ErrorKind::OutOfRange("f")));
        assert_eq!(u("1.5"), Err(ErrorKind::OutOfRange("f")));
        assert_eq!(u("1e3"), Err(ErrorKind::OutOfRange("f")));
        assert_eq!(u("01"), Err(ErrorKind::BadNumber));
        assert_eq!(u("1."), Err(ErrorKind::Eof));
        assert_eq!(u("\"1\""), Err(ErrorKind::Expected("a number")));
        let p = Reader::on_str("70000").uint::<u16>("port").unwrap_err();
        assert_eq!(p.kind, ErrorKind::OutOfRange("port"));
        assert_eq!(p.to_string(), "number out of range for `port` at byte 0");
    }
}
