//! Sliding windows on Suricata's clock, with bounded memory.
//!
//! Time is always an event's own EVE time (microseconds), never the wall clock, so a
//! replayed capture gives the same counts as the live traffic did. Events may arrive out
//! of order (flow records come when a flow ends, stamped with its start); an event older
//! than the window, measured from the newest event seen, no longer counts.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The per-address tables' map: a fast hash with a random seed per process (addresses
/// are chosen by whoever sends packets, so the seed matters; SipHash cost a tenth of the
/// detection path).
pub type AddrMap<V> = HashMap<IpAddr, V, foldhash::fast::RandomState>;

/// A per-address table as two maps, one per family, with [`AddrMap`]'s hash: a bucket
/// holds the address in its own size, so with a boxed value an IPv4 address's bucket is
/// 16 bytes and an IPv6 one's 24, where an [`IpAddr`] key (17 bytes, padded to 24) makes
/// every bucket 32. The families stay apart: an IPv4-mapped IPv6 address is not the
/// IPv4 address. For the engine's source table, the largest.
#[derive(Debug)]
pub struct AddrTable<V> {
    v4: HashMap<Ipv4Addr, V, foldhash::fast::RandomState>,
    v6: HashMap<Ipv6Addr, V, foldhash::fast::RandomState>,
}

impl<V> Default for AddrTable<V> {
    fn default() -> Self {
        AddrTable {
            v4: HashMap::default(),
            v6: HashMap::default(),
        }
    }
}

impl<V> AddrTable<V> {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&a),
            IpAddr::V6(a) => self.v6.get(&a),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.get(ip).is_some()
    }

    /// The value of `ip`, made with its default if there is none.
    pub fn get_or_default(&mut self, ip: IpAddr) -> &mut V
    where
        V: Default,
    {
        match ip {
            IpAddr::V4(a) => self.v4.entry(a).or_default(),
            IpAddr::V6(a) => self.v6.entry(a).or_default(),
        }
    }

    /// Every value, both families.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut V)) {
        self.v4.values_mut().for_each(&mut f);
        self.v6.values_mut().for_each(&mut f);
    }

    /// [`evict_idle`] over both families as one table: the same entries go as from one
    /// map holding them all (the half's cut is taken over both).
    pub fn evict_idle(&mut self, cap: usize, horizon: i64, last_seen: impl Fn(&V) -> i64) -> u64 {
        let before = self.len();
        self.v4.retain(|_, v| last_seen(v) >= horizon);
        self.v6.retain(|_, v| last_seen(v) >= horizon);
        if self.len() >= cap {
            let seen: Vec<i64> = self
                .v4
                .values()
                .chain(self.v6.values())
                .map(&last_seen)
                .collect();
            let cut = half_cut(seen);
            self.v4.retain(|_, v| last_seen(v) > cut);
            self.v6.retain(|_, v| last_seen(v) > cut);
        }
        (before - self.len()) as u64
    }
}

/// Slots per window: counts have window/8 granularity.
pub const SLOTS: usize = 8;

/// The longest window any detector may be set to, in seconds (the shortest is 1 s):
/// checked at start, and what the 32-bit and 15-bit times of per-source state rely on.
pub const MAX_WINDOW_SECS: f64 = 86_400.0;

/// The window settings' error unless `secs` is within 1 s and [`MAX_WINDOW_SECS`].
pub fn check_window(name: &str, secs: f64) -> Result<(), String> {
    if (1.0..=MAX_WINDOW_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(format!(
            "[detect] {name}.window must be between 1 and {MAX_WINDOW_SECS} seconds, got {secs}"
        ))
    }
}

/// Counts events in the last `window` of EVE time, in [`SLOTS`] slots. 20 bytes: a slot
/// holds up to 65,535 events (it saturates there; every threshold is far below, so only
/// the evidence of an extreme flood is capped, at 8 × 65,535 per window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowCount {
    slots: [u16; SLOTS],
    /// Slot number (time / slot width) of the newest slot, in 32 bits: compared by
    /// wrapping difference, so a jump ahead is told from a late record while it is under
    /// 3 × 2³⁰ slots (12.7 years of the narrowest slot a validated window allows, 125
    /// ms; the engine starts a source's counters afresh after a day without records, so
    /// a clock set from 1970 to now does not reach them). 0 with every slot empty: never
    /// used (the first event sets it).
    head: u32,
}

impl WindowCount {
    /// The most a window counts (every slot full): a threshold above it never trips.
    pub const MAX: u64 = SLOTS as u64 * u16::MAX as u64;

    /// Adds one event at `t_us` and returns the count now in the window. `slot_us` is
    /// the window divided by [`SLOTS`] and must be the same on every call.
    pub fn add(&mut self, t_us: i64, slot_us: i64) -> u32 {
        // SLOTS divides 2³², so a slot's index is the same from the wrapped number.
        let slot = t_us.div_euclid(slot_us) as u32;
        if self.head == 0 && self.slots == [0; SLOTS] {
            self.head = slot;
        }
        let ahead = slot.wrapping_sub(self.head) as i32;
        // More than 2³⁰ slots "behind" is a jump ahead past 2³¹ slots (no record comes
        // that late): the window starts afresh, as it does for any jump past it.
        if !(-(1 << 30)..=0).contains(&ahead) {
            let advance = if ahead > 0 {
                ahead.min(SLOTS as i32) as u32
            } else {
                SLOTS as u32
            };
            for k in 1..=advance {
                self.slots[(self.head.wrapping_add(k) % SLOTS as u32) as usize] = 0;
            }
            self.head = slot;
        } else if ahead <= -(SLOTS as i32) {
            return self.total();
        }
        let i = (slot % SLOTS as u32) as usize;
        self.slots[i] = self.slots[i].saturating_add(1);
        self.total()
    }

    pub fn total(&self) -> u32 {
        self.slots.iter().map(|&b| u32::from(b)).sum()
    }
}

/// Destinations (host, port) a source reached recently, each with its last time.
/// Bounded: beyond `cap` entries the oldest is replaced. Kept sorted by host, so the
/// counts the checks read after every flow are one pass (distinct hosts) or a binary
/// search (ports on one host), never a pass per entry.
///
/// 8 bytes a contact: the host as a 32-bit key (an IPv4 address itself; an IPv6
/// address folded by a fixed hash, so two of one source's contacts are told apart unless
/// their keys collide, about n²/2³³ for n IPv6 contacts, 2·10⁻⁶ at the default 128, and
/// n/2³² for an IPv6 contact beside n IPv4 ones), the port, one bit the caller fixes per
/// host when it adds it (the engine: "a home address"), which the counts filter on
/// instead of looking the host up again, and the last time in 15 bits, wrapping, read
/// as an age from `newest`. Its unit is a millisecond for windows up to 16.37 s (the
/// defaults: 10 s), longer for longer windows ([`Targets::unit_us`]) so that every age
/// the list reads, at most two windows, stays below 2¹⁵ units.
#[derive(Debug, Clone)]
pub struct Targets {
    entries: Vec<Contact>,
    newest: i64,
    /// No entry is older than this (a lower bound): nothing to forget before it.
    oldest: i64,
}

#[derive(Debug, Clone, Copy)]
struct Contact {
    key: u32,
    port: u16,
    /// The caller's bit (bit 15) and the last time in units of the window's
    /// [`Targets::unit_us`], wrapping at 2¹⁵ (bits 0 to 14).
    tm: u16,
}

const MARK: u16 = 1 << 15;
const TIME: u16 = MARK - 1;

impl Contact {
    fn host(&self) -> HostKey {
        HostKey(self.key)
    }

    fn marked(&self) -> bool {
        self.tm & MARK != 0
    }

    fn time(&self) -> u16 {
        self.tm & TIME
    }
}

/// A host as [`Targets`] keeps it: a 32-bit key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct HostKey(u32);

impl HostKey {
    fn of(ip: IpAddr) -> HostKey {
        match ip {
            IpAddr::V4(a) => HostKey(u32::from(a)),
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let z = (v as u64) ^ ((v >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                HostKey((z >> 32) as u32)
            }
        }
    }
}

impl Default for Targets {
    fn default() -> Self {
        Targets::EMPTY
    }
}

impl Targets {
    /// No contacts.
    pub const EMPTY: Targets = Targets {
        entries: Vec::new(),
        newest: i64::MIN,
        oldest: i64::MAX,
    };

    /// The unit of a contact's time for a window of `window_us`: a millisecond for
    /// windows up to 16.37 s, else the fewest milliseconds that keep two windows (and
    /// the rounding to units) below 32,760 units, short of the 2¹⁵ a time wraps at.
    pub fn unit_us(window_us: i64) -> i64 {
        let two = 2 * window_us.max(0).div_euclid(1000) + 4;
        (two / 32_760 + 1) * 1000
    }

    /// Records a contact and forgets contacts older than `window_us` before the newest.
    /// `marked` is the caller's bit for `host` (the same every time for one host).
    ///
    /// Times are kept to the unit ([`Targets::unit_us`]; a millisecond at the default
    /// windows): a contact within the unit the window begins in stays, and of two
    /// contacts last seen in one unit the first in the list is the older.
    pub fn add(
        &mut self,
        host: IpAddr,
        marked: bool,
        port: u16,
        t_us: i64,
        window_us: i64,
        cap: usize,
    ) {
        if t_us.saturating_sub(self.newest) > window_us {
            // Every entry is older than the new window: gone, before any is read
            // against the new `newest` (their wrapping times could mislead).
            self.entries.clear();
            self.oldest = i64::MAX;
        }
        self.newest = self.newest.max(t_us);
        let horizon = self.newest.saturating_sub(window_us);
        if t_us < horizon {
            return;
        }
        let unit = Targets::unit_us(window_us);
        let units = |t: i64| (t.div_euclid(unit) as u16) & TIME;
        let now = units(self.newest);
        // Every entry is at most two windows and a unit older than `newest` (the list
        // was within one window of the previous newest, which is at most a window
        // back): below 2¹⁵ units, so the wrapping difference is the age.
        let age = |tm: u16| now.wrapping_sub(tm) & TIME;
        if self.oldest < horizon {
            let limit = age(units(horizon));
            self.entries.retain(|e| age(e.time()) <= limit);
            let eldest = self.entries.iter().map(|e| age(e.time())).max();
            self.oldest = eldest.map_or(i64::MAX, |a| {
                (self.newest.div_euclid(unit) - i64::from(a)) * unit
            });
        }
        let tm = units(t_us);
        let host = HostKey::of(host);
        let (lo, hi) = self.host_range(host);
        if let Some(e) = self.entries[lo..hi].iter_mut().find(|e| e.port == port) {
            if age(tm) < age(e.time()) {
                e.tm = (e.tm & MARK) | tm;
            }
            return;
        }
        let mut at = lo;
        if self.entries.len() >= cap {
            let oldest = (0..self.entries.len())
                .min_by_key(|&k| std::cmp::Reverse(age(self.entries[k].time())));
            if let Some(k) = oldest {
                self.entries.remove(k);
                if k < at {
                    at -= 1;
                }
            }
        }
        grow_gently(&mut self.entries, cap);
        self.entries.insert(
            at,
            Contact {
                key: host.0,
                port,
                tm: if marked { MARK | tm } else { tm },
            },
        );
        // A lower bound: the start of the contact's unit.
        self.oldest = self.oldest.min(t_us.div_euclid(unit) * unit);
    }

    /// The entries of `host`: `entries[lo..hi]`.
    fn host_range(&self, host: HostKey) -> (usize, usize) {
        let lo = self.entries.partition_point(|e| e.host() < host);
        let hi = lo + self.entries[lo..].partition_point(|e| e.host() == host);
        (lo, hi)
    }

    /// Distinct ports contacted on `host`.
    pub fn ports_on(&self, host: IpAddr) -> usize {
        let (lo, hi) = self.host_range(HostKey::of(host));
        hi - lo
    }

    /// Distinct hosts contacted on `port` whose bit satisfies `filter`.
    pub fn hosts_on(&self, port: u16, filter: impl Fn(bool) -> bool) -> usize {
        self.entries
            .iter()
            .filter(|e| e.port == port && filter(e.marked()))
            .count()
    }

    /// Distinct hosts contacted, any port, whose bit satisfies `filter`.
    pub fn hosts(&self, filter: impl Fn(bool) -> bool) -> usize {
        // Sorted by host: a host's entries are next to each other.
        let mut n = 0;
        let mut last = None;
        for e in &self.entries {
            if last != Some(e.host()) {
                last = Some(e.host());
                n += filter(e.marked()) as usize;
            }
        }
        n
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Frees the list if its newest contact is older than `before`; whether it did. The
    /// newest time stays, so a later contact is read against it as before: only
    /// contacts older than `before` are gone.
    pub fn release_if_idle(&mut self, before: i64) -> bool {
        if self.newest >= before || self.entries.capacity() == 0 {
            return false;
        }
        self.entries = Vec::new();
        self.oldest = i64::MAX;
        true
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Contact>()
    }
}

/// Makes room for one more element of a per-source list by an eighth (at least 2) instead
/// of doubling: with 100,000 sources holding a few contacts each, doubling leaves a third
/// of every list empty on average; an eighth leaves about a sixteenth, for a few more
/// (small) reallocations while a list grows.
pub fn grow_gently<T>(v: &mut Vec<T>, cap: usize) {
    if v.len() == v.capacity() {
        let size = std::mem::size_of::<T>().max(1);
        // Never beyond the list's cap (but room for one more in any case).
        let want = (v.len() + (v.len() / 8).max(2)).min(cap).max(v.len() + 1);
        // glibc's malloc hands out chunks of a multiple of 16 bytes holding an 8-byte
        // header: fill the chunk the request takes anyway (for 8-byte elements, an odd
        // capacity: 11 contacts in the 96 bytes that 10 take, where 12 took 112).
        let chunk = (want * size + 8).next_multiple_of(16);
        let room = ((chunk - 8) / size).clamp(want, cap.max(want));
        v.reserve_exact(room - v.len());
    }
}

/// Makes room in a per-source table: drops entries last seen before `horizon`; if at
/// least `cap` remain, also the least recently seen half. Returns how many went.
pub fn evict_idle<K: Hash + Eq, V, S: BuildHasher>(
    table: &mut HashMap<K, V, S>,
    cap: usize,
    horizon: i64,
    last_seen: impl Fn(&V) -> i64,
) -> u64 {
    let before = table.len();
    table.retain(|_, v| last_seen(v) >= horizon);
    if table.len() >= cap {
        let cut = half_cut(table.values().map(&last_seen).collect());
        table.retain(|_, v| last_seen(v) > cut);
    }
    (before - table.len()) as u64
}

/// The median of last-seen times (the upper one of an even count): entries seen at or
/// before it are the least recently seen half. `seen` is not empty.
fn half_cut(mut seen: Vec<i64>) -> i64 {
    let mid = seen.len() / 2;
    *seen.select_nth_unstable(mid).1
}

#[cfg(test)]
pub(crate) mod tests {
    /// A list grows by an eighth (at least 2) and fills the allocator's chunk: 8-byte
    /// elements get odd capacities (the chunk's 8-byte header makes them a multiple of
    /// 16), and never less room than asked.
    #[test]
    fn lists_grow_by_an_eighth_into_the_allocators_chunk() {
        let mut v: Vec<u64> = Vec::new();
        let mut caps = Vec::new();
        for i in 0..200u64 {
            let (len, cap) = (v.len(), v.capacity());
            grow_gently(&mut v, usize::MAX);
            if cap == len {
                let want = len + (len / 8).max(2);
                assert!(
                    v.capacity() >= want && v.capacity() <= want + 1,
                    "{len} -> {}",
                    v.capacity()
                );
                assert_eq!((v.capacity() * 8 + 8) % 16, 0);
                caps.push(v.capacity());
            } else {
                assert_eq!(v.capacity(), cap, "no growth while there is room");
            }
            v.push(i);
        }
        assert_eq!(caps[..6], [3, 5, 7, 9, 11, 13]);
        let mut w: Vec<[u8; 3]> = Vec::new();
        for _ in 0..50 {
            grow_gently(&mut w, usize::MAX);
            w.push([0; 3]);
        }
        assert!(w.capacity() >= 50);
        // A list at its cap gets no room beyond it (one more if it is full: the caller
        // makes room first, so this is only the cap's own element).
        let mut c: Vec<u64> = Vec::new();
        for i in 0..128u64 {
            grow_gently(&mut c, 128);
            c.push(i);
        }
        assert_eq!(c.capacity(), 128);
    }

    use super::*;

    const S: i64 = 1_000_000;

    /// A small deterministic generator for the randomised tests: `rnd(m)` is below `m`.
    pub(crate) fn lcg(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |m| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % m
        }
    }

    #[test]
    fn counts_within_the_window_only() {
        let slot = 3 * S / SLOTS as i64;
        let mut w = WindowCount::default();
        let t0 = 1_700_000_000 * S;
        for i in 0..10 {
            w.add(t0 + i * 100_000, slot); // 10 events in 1 s
        }
        assert_eq!(w.total(), 10);
        // 5 s later the earlier events have left the 3 s window.
        assert_eq!(w.add(t0 + 6 * S, slot), 1);
        // An event older than the window is ignored.
        assert_eq!(w.add(t0, slot), 1);
        // Out of order but inside the window still counts.
        assert_eq!(w.add(t0 + 5 * S, slot), 2);
    }

    #[test]
    fn a_slot_saturates_instead_of_wrapping() {
        let mut w = WindowCount::default();
        for _ in 0..70_000 {
            w.add(5 * S, S);
        }
        assert_eq!(w.total(), u32::from(u16::MAX));
        for k in 1..SLOTS as i64 {
            for _ in 0..70_000 {
                w.add(5 * S + k * S, S);
            }
        }
        assert_eq!(u64::from(w.total()), WindowCount::MAX);
        assert_eq!(std::mem::size_of::<WindowCount>(), 20);
    }

    /// Slot numbers are kept in 32 bits: counting goes on across their wrap, and a new
    /// counter counts its first event whatever its slot number.
    #[test]
    fn slot_numbers_wrap_at_32_bits() {
        let mut w = WindowCount::default();
        let first = (1i64 << 32) - 3;
        for k in 0..6 {
            assert_eq!(w.add((first + k) * S, S), k as u32 + 1);
        }
        // Eight slots before the newest: outside the window.
        assert_eq!(w.add((first + 5 - 8) * S, S), 6);
        assert_eq!(w.add((first + 5 - 7) * S, S), 7);
        // Past the window: the earlier ones leave.
        assert_eq!(w.add((first + 13) * S, S), 1);
        // A jump ahead of more than 2³¹ slots (a clock set from 1970 to now, 375 ms
        // slots): a fresh window, not a late record.
        let slot = 375_000;
        let mut w = WindowCount::default();
        w.add(5 * S, slot);
        w.add(6 * S, slot);
        assert_eq!(w.add(1_700_000_000 * S, slot), 1);
        assert_eq!(w.add(1_700_000_001 * S, slot), 2);
        // A first slot number whose low 32 bits read as negative.
        let mut w = WindowCount::default();
        assert_eq!(w.add(((1i64 << 31) + 5) * S, S), 1);
        assert_eq!(w.add(((1i64 << 31) + 4) * S, S), 2);
    }

    /// The two-family table keeps an IPv4 address and its IPv4-mapped IPv6 form apart,
    /// and evicts exactly what one map of all its entries would.
    #[test]
    fn addr_table_is_one_table_of_both_families() {
        let mut rnd = lcg(7);
        let v4 = Ipv4Addr::new(198, 51, 100, 7);
        let mut t: AddrTable<i64> = AddrTable::default();
        *t.get_or_default(IpAddr::V4(v4)) = 1;
        *t.get_or_default(IpAddr::V6(v4.to_ipv6_mapped())) = 2;
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(IpAddr::V4(v4)), Some(&1));
        assert_eq!(t.get(IpAddr::V6(v4.to_ipv6_mapped())), Some(&2));
        assert!(!t.contains(IpAddr::from([198, 51, 100, 8])));
        for round in 0..50 {
            let mut t: AddrTable<i64> = AddrTable::default();
            let mut one: AddrMap<i64> = AddrMap::default();
            for _ in 0..rnd(300) {
                let k = rnd(200) as u16;
                let ip = if rnd(2) == 0 {
                    IpAddr::from([10, 0, (k >> 8) as u8, k as u8])
                } else {
                    IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, k])
                };
                // Few distinct times, so the half's cut falls on ties.
                let seen = rnd(40) as i64;
                *t.get_or_default(ip) = seen;
                *one.entry(ip).or_default() = seen;
            }
            let (cap, horizon) = (1 + rnd(250) as usize, rnd(20) as i64);
            let gone = t.evict_idle(cap, horizon, |v| *v);
            assert_eq!(
                gone,
                evict_idle(&mut one, cap, horizon, |v| *v),
                "round {round}"
            );
            assert_eq!(t.len(), one.len());
            for (ip, v) in &one {
                assert_eq!(t.get(*ip), Some(v), "round {round}");
            }
        }
    }

    #[test]
    fn far_jumps_clear_everything() {
        let mut w = WindowCount::default();
        w.add(10 * S, S);
        assert_eq!(w.add(1_000 * S, S), 1);
    }

    /// The sorted list counts as a plain list of (host, port, last unit of time) would,
    /// kept in the same order (by host, a host's newest contact first) so that of two
    /// contacts of one unit the same one is the older: at the default windows (a
    /// millisecond's unit), and at a minute (4 ms) and a day (5.28 s), where the
    /// 15-bit times wrap many times over.
    #[test]
    fn targets_agree_with_a_plain_list() {
        let mut rnd = lcg(99);
        assert_eq!(Targets::unit_us(10 * S), 1000);
        assert_eq!(Targets::unit_us(16_370 * 1000), 1000);
        assert_eq!(Targets::unit_us(16_377_999), 1000);
        assert_eq!(Targets::unit_us(16_380 * 1000), 2000);
        assert_eq!(Targets::unit_us(60 * S), 4000);
        let cap = 16;
        let odd = |h: IpAddr| match h {
            IpAddr::V4(a) => a.octets()[3] % 2 == 1,
            IpAddr::V6(a) => a.octets()[15] % 2 == 1,
        };
        // Microsecond times, then whole milliseconds (many contacts of one millisecond),
        // then gaps long enough that entries live through a whole window (their ages
        // near the most 15 bits hold), then gaps longer than the window now and then;
        // each scaled to the window.
        for (window, step, gap) in [
            (10 * S, 1, 400_000),
            (10 * S, 1000, 400),
            (10 * S, 1, 12_000_000),
            (60 * S, 1, 2_400_000),
            (60 * S, 4000, 600),
            // The longest window with a millisecond's unit: the least headroom.
            (16_377_999, 1, 4_000_000),
            (60 * S, 1, 30_000_000),
            (60 * S, 1, 72_000_000),
            // Milliseconds: `rnd` gives below 2³¹.
            (86_400 * S, 1000, 3_456_000),
            (86_400 * S, 1000, 43_200_000),
            (86_400 * S, 1000, 103_680_000),
        ] {
            let unit = Targets::unit_us(window);
            let ms = |t: i64| t.div_euclid(unit);
            let mut t = Targets::default();
            let mut plain: Vec<(IpAddr, u16, i64)> = Vec::new();
            let mut newest = i64::MIN;
            let mut now = 0;
            for _ in 0..5_000 {
                now += (rnd(gap) * step) as i64;
                // Out of order now and then, as flow records are.
                let at = now - rnd(3) as i64 * (window / 10);
                // Both families, and an IPv4 address beside its IPv4-mapped IPv6 form.
                let k = rnd(12) as u8;
                let host = match rnd(3) {
                    0 => IpAddr::from([192, 168, 1, k]),
                    1 => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, k as u16]),
                    _ => IpAddr::V6(std::net::Ipv4Addr::new(192, 168, 1, k).to_ipv6_mapped()),
                };
                let port = rnd(6) as u16;
                t.add(host, odd(host), port, at, window, cap);
                if at.saturating_sub(newest) > window {
                    plain.clear();
                }
                newest = newest.max(at);
                let horizon = newest - window;
                if at >= horizon {
                    plain.retain(|e| e.2 >= ms(horizon));
                    if let Some(e) = plain.iter_mut().find(|e| e.0 == host && e.1 == port) {
                        e.2 = e.2.max(ms(at));
                    } else {
                        if plain.len() >= cap {
                            let k = (0..plain.len()).min_by_key(|&k| plain[k].2).unwrap();
                            plain.remove(k);
                        }
                        let key = HostKey::of(host);
                        let i = plain.partition_point(|e| HostKey::of(e.0) < key);
                        plain.insert(i, (host, port, ms(at)));
                    }
                }
                let distinct = |f: &dyn Fn(IpAddr) -> bool| {
                    let mut hs: Vec<IpAddr> = plain.iter().map(|e| e.0).filter(|&h| f(h)).collect();
                    hs.sort();
                    hs.dedup();
                    hs.len()
                };
                assert_eq!(t.len(), plain.len());
                assert_eq!(
                    t.ports_on(host),
                    plain.iter().filter(|e| e.0 == host).count()
                );
                assert_eq!(
                    t.hosts_on(port, |m| m),
                    plain.iter().filter(|e| e.1 == port && odd(e.0)).count()
                );
                assert_eq!(t.hosts(|m| m), distinct(&odd));
                assert_eq!(t.hosts(|_| true), distinct(&|_| true));
            }
        }
    }

    #[test]
    fn targets_count_ports_and_hosts() {
        let h1: IpAddr = "192.168.1.10".parse().unwrap();
        let h2: IpAddr = "192.168.1.11".parse().unwrap();
        let mut t = Targets::default();
        for p in 1..=5 {
            t.add(h1, false, p, p as i64 * 1000, 10 * S, 64);
        }
        t.add(h2, true, 22, 6000, 10 * S, 64);
        t.add(h1, false, 22, 7000, 10 * S, 64);
        t.add(h1, false, 22, 8000, 10 * S, 64); // repeat, not distinct
        assert_eq!(t.ports_on(h1), 6);
        assert_eq!(t.hosts_on(22, |_| true), 2);
        assert_eq!(t.hosts(|m| m), 1);
        // Everything expires once the newest contact is far enough ahead.
        t.add(h2, true, 80, 20 * S, 10 * S, 64);
        assert_eq!(t.len(), 1);
        // The cap holds.
        for p in 0..100 {
            t.add(h1, false, 1000 + p, 20 * S + p as i64, 10 * S, 16);
        }
        assert_eq!(t.len(), 16);
        assert_eq!(std::mem::size_of::<Contact>(), 8);
    }
}
