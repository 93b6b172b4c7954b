//! Generates the raw bindings from `include/<abi>/plugin-abi.h` with bindgen.
//!
//! libclang comes from Debian's `libclang-dev`; `make deps` installs it.

use std::env;
use std::path::PathBuf;

fn main() {
    let header = abi_header();
    println!("cargo:rerun-if-changed={header}");

    let bindings = bindgen::Builder::default()
        .header(&header)
        .allowlist_type("SCPlugin|SCPluginRegisterFunc|SCEveFileType|ConfNode|SCLogLevel|SCError")
        .allowlist_function(
            "SCRegisterEveFileType|ConfNodeLookupChild|ConfNodeLookupChildValue|ConfGetChildValue|ConfGetChildValueInt|ConfGetChildValueBool|SCLogMessage",
        )
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .use_core()
        .layout_tests(true)
        .derive_default(true)
        .generate_comments(true)
        .generate()
        .unwrap_or_else(|e| {
            panic!("bindgen failed on {header}: {e} (is libclang-dev installed? run `make deps`)")
        });

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs into OUT_DIR");
}

fn abi_header() -> String {
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // Exactly one ABI feature may be active; today only Suricata 7.0 exists.
    if env::var_os("CARGO_FEATURE_SURICATA7").is_none() {
        panic!("suricata-plugin-sys: enable the `suricata7` feature (the only supported ABI)");
    }
    format!("{dir}/include/suricata7/plugin-abi.h")
}
