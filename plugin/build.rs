//! Link options of libsuriguard.so.
//!
//! The library holds about 58,000 relative relocations (vtables, string tables), 1.4 MB
//! as `.rela.dyn` entries that the dynamic loader reads at every Suricata start and that
//! then stay resident. Packed (DT_RELR, `-z pack-relative-relocs`: glibc 2.36 and
//! binutils 2.38 or later, as on Debian 12 and 13) they take a few kilobytes; a glibc
//! too old refuses the library by name (`GLIBC_ABI_DT_RELR`) instead of misloading it.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
