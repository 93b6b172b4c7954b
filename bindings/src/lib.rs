//! Raw bindings to the Suricata 7.0 and 8.0 plugin ABIs.
//!
//! Generated at build time by bindgen from the headers in `include/`, which this crate
//! carries because Debian ships none: [`v7`] and [`v8`] hold each major's structures,
//! [`common`] what both export identically. Only types are bound: the plugin resolves
//! Suricata's functions at run time (`dlsym`) through the `*Fn` signatures here, so one
//! `libsuriguard.so` serves both majors. Do not edit the generated part; add safe helpers
//! in the `plugin` crate, which is the only crate with `extern "C"` entry points.
//!
//! Everything here is `unsafe` to use: pointers handed over by Suricata are owned by
//! Suricata.

#![no_std]

macro_rules! generated {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        #[allow(
            non_camel_case_types,
            non_snake_case,
            non_upper_case_globals,
            dead_code,
            clippy::all,
            clippy::undocumented_unsafe_blocks,
            missing_docs
        )]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    };
}

generated!(
    /// What Suricata 7.0 and 8.0 share: the logger, the version string, rotation flags.
    common,
    "common.rs"
);
generated!(
    /// The Suricata 7.0 plugin ABI.
    v7,
    "v7.rs"
);
generated!(
    /// The Suricata 8.0 plugin ABI.
    v8,
    "v8.rs"
);

#[cfg(test)]
mod layout {
    //! The ABI facts this crate relies on (see `../shared/DESIGN.md`), asserted on the
    //! generated types, independently of bindgen's own layout tests.
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn v7_scplugin_is_32_bytes() {
        use v7::SCPlugin;
        assert_eq!(size_of::<SCPlugin>(), 32);
        assert_eq!(offset_of!(SCPlugin, name), 0);
        assert_eq!(offset_of!(SCPlugin, license), 8);
        assert_eq!(offset_of!(SCPlugin, author), 16);
        assert_eq!(offset_of!(SCPlugin, Init), 24);
    }

    #[test]
    fn v7_eve_file_type_is_64_bytes_with_write_second() {
        use v7::SCEveFileType;
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
    fn v7_conf_node_is_64_bytes() {
        use v7::ConfNode;
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
    fn v8_scplugin_is_56_bytes_with_the_version_first() {
        use v8::SCPlugin;
        assert_eq!(size_of::<SCPlugin>(), 56);
        assert_eq!(offset_of!(SCPlugin, version), 0);
        assert_eq!(offset_of!(SCPlugin, suricata_version), 8);
        assert_eq!(offset_of!(SCPlugin, name), 16);
        assert_eq!(offset_of!(SCPlugin, plugin_version), 24);
        assert_eq!(offset_of!(SCPlugin, license), 32);
        assert_eq!(offset_of!(SCPlugin, author), 40);
        assert_eq!(offset_of!(SCPlugin, Init), 48);
        assert_eq!(v8::SC_API_VERSION, 0x0800);
    }

    #[test]
    fn v8_eve_file_type_is_64_bytes_with_thread_init_second() {
        use v8::SCEveFileType;
        assert_eq!(size_of::<SCEveFileType>(), 64);
        assert_eq!(offset_of!(SCEveFileType, name), 0);
        assert_eq!(offset_of!(SCEveFileType, Init), 8);
        assert_eq!(offset_of!(SCEveFileType, ThreadInit), 16);
        assert_eq!(offset_of!(SCEveFileType, Write), 24);
        assert_eq!(offset_of!(SCEveFileType, ThreadDeinit), 32);
        assert_eq!(offset_of!(SCEveFileType, Deinit), 40);
        assert_eq!(offset_of!(SCEveFileType, entries), 48);
        assert_eq!(size_of::<v8::ThreadId>(), 4);
    }

    #[test]
    fn v8_conf_node_has_the_v7_layout() {
        // The plugin reads both majors' nodes through one view; that is only sound while
        // the layouts agree field by field.
        use v8::SCConfNode;
        assert_eq!(size_of::<SCConfNode>(), size_of::<v7::ConfNode>());
        assert_eq!(offset_of!(SCConfNode, name), offset_of!(v7::ConfNode, name));
        assert_eq!(offset_of!(SCConfNode, val), offset_of!(v7::ConfNode, val));
        assert_eq!(offset_of!(SCConfNode, head), offset_of!(v7::ConfNode, head));
        assert_eq!(offset_of!(SCConfNode, next), offset_of!(v7::ConfNode, next));
    }

    #[test]
    fn log_levels_match_suricata() {
        use common::SCLogLevel;
        assert_eq!(SCLogLevel::SC_LOG_ERROR, 1);
        assert_eq!(SCLogLevel::SC_LOG_WARNING, 2);
        assert_eq!(SCLogLevel::SC_LOG_NOTICE, 3);
        assert_eq!(SCLogLevel::SC_LOG_INFO, 4);
        assert_eq!(SCLogLevel::SC_LOG_CONFIG, 6);
    }
}
