//! Raw bindings to the Suricata 7.0 plugin ABI.
//!
//! Generated at build time by bindgen from `include/suricata7/plugin-abi.h`, a header this
//! crate carries because Debian ships none. Do not edit the generated part; add safe
//! helpers in the `plugin` crate, which is the only crate with `extern "C"` entry points.
//!
//! Everything here is `unsafe` to use: pointers handed over by Suricata are owned by
//! Suricata, and the functions are resolved against the running `suricata` binary when the
//! plugin is loaded.

#![no_std]

#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    missing_docs
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use generated::*;

#[cfg(test)]
mod layout {
    //! The ABI facts this crate relies on (see `../shared/DESIGN.md`), asserted on the
    //! generated types, independently of bindgen's own layout tests.
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn scplugin_is_32_bytes() {
        assert_eq!(size_of::<SCPlugin>(), 32);
        assert_eq!(offset_of!(SCPlugin, name), 0);
        assert_eq!(offset_of!(SCPlugin, license), 8);
        assert_eq!(offset_of!(SCPlugin, author), 16);
        assert_eq!(offset_of!(SCPlugin, Init), 24);
    }

    #[test]
    fn sceve_file_type_is_64_bytes() {
        assert_eq!(size_of::<SCEveFileType>(), 64);
        assert_eq!(offset_of!(SCEveFileType, name), 0);
        assert_eq!(offset_of!(SCEveFileType, Init), 8);
        assert_eq!(offset_of!(SCEveFileType, Write), 16);
        assert_eq!(offset_of!(SCEveFileType, Deinit), 24);
        assert_eq!(offset_of!(SCEveFileType, ThreadInit), 32);
        assert_eq!(offset_of!(SCEveFileType, ThreadDeinit), 40);
        assert_eq!(offset_of!(SCEveFileType, entries), 48);
    }

    #[test]
    fn conf_node_is_64_bytes() {
        assert_eq!(size_of::<ConfNode>(), 64);
        assert_eq!(offset_of!(ConfNode, name), 0);
        assert_eq!(offset_of!(ConfNode, val), 8);
        assert_eq!(offset_of!(ConfNode, is_seq), 16);
        assert_eq!(offset_of!(ConfNode, final_), 20);
        assert_eq!(offset_of!(ConfNode, parent), 24);
        assert_eq!(offset_of!(ConfNode, head), 32);
        assert_eq!(offset_of!(ConfNode, next), 48);
    }

    #[test]
    fn log_levels_match_suricata() {
        assert_eq!(SCLogLevel::SC_LOG_ERROR, 1);
        assert_eq!(SCLogLevel::SC_LOG_WARNING, 2);
        assert_eq!(SCLogLevel::SC_LOG_NOTICE, 3);
        assert_eq!(SCLogLevel::SC_LOG_INFO, 4);
        assert_eq!(SCLogLevel::SC_LOG_CONFIG, 6);
    }
}
