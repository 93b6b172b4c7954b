//! Generates the raw bindings from the headers in `include/` with bindgen: one module per
//! Suricata major (`v7`, `v8`) and one for what both export identically (`common`).
//!
//! libclang comes from Debian's `libclang-dev`; `make deps` installs it.

use std::env;
use std::path::PathBuf;

/// (module, header, types to keep)
const ABIS: [(&str, &str, &str); 3] = [
    (
        "common",
        "common/host-abi.h",
        "SCLogLevel|SCLogMessageFn|GetProgramVersionFn|OutputRegisterFileRotationFlagFn|OutputUnregisterFileRotationFlagFn|ConfigGetLogDirectoryFn",
    ),
    (
        "v7",
        "suricata7/plugin-abi.h",
        "SCPlugin|SCEveFileType|ConfNode|SCRegisterEveFileTypeFn|ConfNodeLookupChildFn",
    ),
    (
        "v8",
        "suricata8/plugin-abi.h",
        "SCPlugin|SCEveFileType|SCConfNode|ThreadId|SCRegisterEveFileTypeFn|SCConfNodeLookupChildFn",
    ),
];

fn main() {
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (module, header, types) in ABIS {
        let header = format!("{dir}/include/{header}");
        println!("cargo:rerun-if-changed={header}");
        let bindings = bindgen::Builder::default()
            .header(&header)
            .allowlist_type(types)
            .allowlist_var("SC_API_VERSION")
            .default_enum_style(bindgen::EnumVariation::ModuleConsts)
            .use_core()
            .layout_tests(true)
            .derive_default(true)
            .generate_comments(true)
            .generate()
            .unwrap_or_else(|e| {
                panic!(
                    "bindgen failed on {header}: {e} (is libclang-dev installed? run `make deps`)"
                )
            });
        bindings
            .write_to_file(out.join(format!("{module}.rs")))
            .expect("writing the bindings into OUT_DIR");
    }
}
