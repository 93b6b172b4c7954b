//! The plugin's own heap, counted: every allocation the library's Rust code makes (the
//! queues' copies and chunks, the worker's per-source state, the model) goes through
//! this allocator, which hands it to the system allocator and keeps the bytes in use
//! and their peak. Suricata's own allocations (C code) are not counted, so the figure is
//! suriguard's alone whatever Suricata holds at the time: `heap` in the stats file,
//! `suriguard_plugin_heap_bytes` and `suriguard_plugin_heap_peak_bytes` in `/metrics`.
//!
//! Requested bytes are counted, not the allocator's headers and rounding (with glibc
//! about 8 to 24 bytes a small allocation) nor pages the system allocator keeps after a
//! free; the resident size Suricata gains is measured in docs/PERFORMANCE.md. The cost
//! is one relaxed atomic add per allocation and per free (and a compare for the peak),
//! beside the two to four atomic operations `Write` already does per record.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use suriguard_guard::HeapStats;

/// A counter on a cache line of its own: the peak is read on every allocation, and the
/// count written, from Suricata's threads and the worker at once.
#[repr(align(64))]
struct Line(AtomicUsize);

static IN_USE: Line = Line(AtomicUsize::new(0));
static PEAK: Line = Line(AtomicUsize::new(0));

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn grew(by: usize) {
    let now = IN_USE.0.fetch_add(by, Relaxed) + by;
    // Most allocations do not raise the peak: a load, not a read-modify-write.
    if now > PEAK.0.load(Relaxed) {
        PEAK.0.fetch_max(now, Relaxed);
    }
}

fn shrank(by: usize) {
    IN_USE.0.fetch_sub(by, Relaxed);
}

// SAFETY: every call is passed on unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the caller's `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// The bytes the library's code holds now and the most it held since Suricata loaded it:
/// one count for the whole library, so every `suriguard` output of a Suricata reports the
/// same figures.
pub fn stats() -> HeapStats {
    let bytes = IN_USE.0.load(Relaxed);
    // Another thread may have raised the count and not yet the peak.
    let peak = PEAK.0.load(Relaxed).max(bytes);
    HeapStats {
        bytes: bytes as u64,
        peak_bytes: peak as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocations, growth and frees move the count; the peak keeps the most. Other
    /// tests allocate at the same time, so the checks leave room for them.
    #[test]
    fn counts_what_is_held_and_the_peak() {
        use std::hint::black_box;
        const MB: usize = 1 << 20;
        // black_box: an allocation nothing reads could be left out by the optimiser.
        let mut v: Vec<u8> = black_box(Vec::with_capacity(32 * MB));
        assert!(stats().bytes >= 32 * MB as u64);
        v.reserve_exact(48 * MB);
        black_box(&mut v);
        let held = stats();
        assert!(held.bytes >= 48 * MB as u64, "{held:?}");
        assert!(held.peak_bytes >= held.bytes);
        drop(v);
        let after = stats();
        assert!(
            after.bytes + 40 * MB as u64 <= held.bytes,
            "{held:?} then {after:?}"
        );
        assert!(after.peak_bytes >= held.bytes);
        let z = black_box(vec![0u8; 40 * MB]);
        assert!(stats().bytes >= 40 * MB as u64);
        drop(z);
    }
}
