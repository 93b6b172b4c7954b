//! Builds the hostile-host harness (a C program that plays a misbehaving Suricata) with
//! the system C compiler, against the bindings crate's own ABI header.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = dir.join("harness/hostile_host.c");
    println!("cargo:rerun-if-changed={}", src.display());
    for header in ["common/host-abi.h", "suricata7/plugin-abi.h"] {
        let header = dir.join("../bindings/include").join(header);
        println!("cargo:rerun-if-changed={}", header.display());
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("hostile-host");
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-rdynamic",
            "-pthread",
        ])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "building {} failed", src.display());
    println!("cargo:rustc-env=SURIGUARD_HOSTILE_HOST={}", out.display());
}
