//! libsuriguard.so: the EVE output plugin for Suricata 7.0 and 8.0 (one library for both).
//!
//! Suricata loads this library, calls [`SCPluginRegister`], and from then on hands every
//! EVE record of the eve-log outputs whose `filetype` is `suriguard` to `Write`, from its
//! packet, flow-recycler and stats threads, without locks. `Write` copies the record into
//! a bounded queue and returns at once; one worker thread per output does all parsing and
//! decision work through `suriguard-guard` and `suriguard-detect`.
//!
//! This is the only crate with `extern "C"` entry points. Every one of them runs inside
//! [`ffi_boundary!`], which contains panics: an unwinding panic across the boundary would
//! abort Suricata.

mod failpoints;
mod ffi;
mod heap;
mod host;
mod logging;
mod output;

pub use ffi::SCPluginRegister;
