//! Safe wrappers around what Suricata offers the plugin: its logger and its
//! configuration tree. The raw declarations live in `suricata-plugin-sys`.

use std::borrow::Cow;
use std::ffi::{c_void, CStr, CString};
use std::marker::PhantomData;
use std::sync::OnceLock;

use suricata_plugin_sys::{common, v7};
use suriguard_guard::ConfValue;

pub use common::SCLogLevel::{
    SC_LOG_DEBUG as DEBUG, SC_LOG_ERROR as ERROR, SC_LOG_INFO as INFO, SC_LOG_NOTICE as NOTICE,
    SC_LOG_WARNING as WARNING,
};

const MODULE: &CStr = c"suriguard";

/// Which plugin ABI the running Suricata speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    V7,
    V8,
}

/// The running Suricata, as far as the plugin needs to know it: its version, its ABI,
/// and the functions of it the plugin calls, resolved by name with `dlsym` (the library
/// links none of them, so it loads into 7.0 and 8.0 alike).
pub struct Host {
    /// `GetProgramVersion()`, e.g. "8.0.8 RELEASE"; empty if Suricata does not say.
    pub version: String,
    /// The ABI to speak, or why this Suricata is not supported.
    pub abi: Result<Abi, String>,
    log: common::SCLogMessageFn,
    /// `SCRegisterEveFileType`, the same name in both majors (the pointee type differs).
    register: *mut c_void,
    rotation_register: common::OutputRegisterFileRotationFlagFn,
    rotation_unregister: common::OutputUnregisterFileRotationFlagFn,
    log_dir: common::ConfigGetLogDirectoryFn,
}

// SAFETY: the fields are immutable after resolution; the raw pointer is a function
// address in Suricata's binary, valid for the life of the process and callable from any
// thread.
unsafe impl Send for Host {}
// SAFETY: as above; nothing in Host is ever written after `resolve`.
unsafe impl Sync for Host {}

/// Looks `name` up among the symbols of the process (Suricata exports its own).
fn symbol(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT and a valid C string only reads the loaded objects'
    // symbol tables.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

/// A symbol as an optional function pointer of type `F` (NULL becomes `None`).
///
/// # Safety
/// `F` must be an `Option<unsafe extern "C" fn(..)>` whose signature is the symbol's.
unsafe fn function<F: Copy>(name: &CStr) -> F {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    let p = symbol(name);
    // SAFETY: F is an Option of a function pointer (same size, NULL is None), and the
    // caller guarantees the signature.
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
}

impl Host {
    fn resolve() -> Host {
        // SAFETY: each type is the documented signature of the symbol (common/host-abi.h).
        let (log, version_fn, rotation_register, rotation_unregister) = unsafe {
            (
                function::<common::SCLogMessageFn>(c"SCLogMessage"),
                function::<common::GetProgramVersionFn>(c"GetProgramVersion"),
                function::<common::OutputRegisterFileRotationFlagFn>(
                    c"OutputRegisterFileRotationFlag",
                ),
                function::<common::OutputUnregisterFileRotationFlagFn>(
                    c"OutputUnregisterFileRotationFlag",
                ),
            )
        };
        // SAFETY: both names have the signature of ConfigGetLogDirectoryFn.
        let log_dir =
            unsafe {
                function::<common::ConfigGetLogDirectoryFn>(c"SCConfigGetLogDirectory").or(
                    function::<common::ConfigGetLogDirectoryFn>(c"ConfigGetLogDirectory"),
                )
            };
        let version = version_fn
            // SAFETY: GetProgramVersion returns a static NUL-terminated string.
            .map(|f| unsafe { cstr_lossy(f()) }.unwrap_or_default().into_owned())
            .unwrap_or_default();
        let abi = abi_of(
            &version,
            !symbol(c"SCConfNodeLookupChild").is_null(),
            !symbol(c"ConfNodeLookupChild").is_null(),
        );
        let register = symbol(c"SCRegisterEveFileType");
        let abi = match abi {
            Ok(_) if register.is_null() => Err(
                "this Suricata exports no SCRegisterEveFileType (built without plugin support?)"
                    .into(),
            ),
            other => other,
        };
        Host {
            version,
            abi,
            log,
            register,
            rotation_register,
            rotation_unregister,
            log_dir,
        }
    }

    /// Suricata's log directory (`default-log-dir`, or `-l`), where it puts its own
    /// relative file names.
    pub fn log_dir(&self) -> Option<std::path::PathBuf> {
        let f = self.log_dir?;
        // SAFETY: returns a pointer to Suricata's configuration string (static or owned
        // by the config tree for the life of the process), or NULL.
        let dir = unsafe { cstr_lossy(f()) }?;
        (!dir.is_empty()).then(|| std::path::PathBuf::from(dir.into_owned()))
    }

    /// The major version from [`Host::version`], if it names one.
    pub fn major(&self) -> Option<u32> {
        version_numbers(&self.version).0
    }

    /// Registers a 7.0 file type. `ft` must live for the rest of the process.
    ///
    /// # Safety
    /// Only on a 7.0 host, with a leaked, fully initialised `ft`.
    pub unsafe fn register_v7(&self, ft: *mut v7::SCEveFileType) -> bool {
        // SAFETY: the caller checked the ABI; the symbol is non-NULL (checked in resolve)
        // and has this signature in 7.0.
        unsafe {
            let f: v7::SCRegisterEveFileTypeFn = std::mem::transmute_copy(&self.register);
            f.is_some_and(|f| f(ft))
        }
    }

    /// Registers an 8.0 file type. `ft` must live for the rest of the process.
    ///
    /// # Safety
    /// Only on an 8.0 host, with a leaked, fully initialised `ft`.
    pub unsafe fn register_v8(&self, ft: *mut suricata_plugin_sys::v8::SCEveFileType) -> bool {
        // SAFETY: as in register_v7, with 8.0's signature.
        unsafe {
            let f: suricata_plugin_sys::v8::SCRegisterEveFileTypeFn =
                std::mem::transmute_copy(&self.register);
            f.is_some_and(|f| f(ft))
        }
    }

    /// Asks Suricata to set `*flag` to 1 on SIGHUP and `reopen-log-files`. False if this
    /// Suricata cannot (then only moves of the file are noticed).
    ///
    /// # Safety
    /// `flag` must stay valid until [`Host::unregister_rotation`] is called with it.
    pub unsafe fn register_rotation(&self, flag: *mut i32) -> bool {
        match self.rotation_register {
            // SAFETY: the caller keeps `flag` alive until it is unregistered.
            Some(f) => unsafe {
                f(flag);
                true
            },
            None => false,
        }
    }

    /// Undoes [`Host::register_rotation`]; harmless for a flag never registered.
    ///
    /// # Safety
    /// `flag` is the pointer given to `register_rotation` (or any pointer never given).
    pub unsafe fn unregister_rotation(&self, flag: *mut i32) {
        if let Some(f) = self.rotation_unregister {
            // SAFETY: Suricata only compares the pointer and removes its entry.
            unsafe { f(flag) }
        }
    }
}

/// Decides the ABI from the version string, or from the names Suricata exports when it
/// gives no version. Only 7.0 and 8.0 are known layouts; anything else is refused with
/// the reason, because a wrong layout would crash Suricata.
fn abi_of(version: &str, has_sc_conf: bool, has_conf: bool) -> Result<Abi, String> {
    match version_numbers(version) {
        (Some(7), Some(0)) => Ok(Abi::V7),
        (Some(8), Some(0)) => Ok(Abi::V8),
        (Some(major), Some(minor)) => Err(format!(
            "suriguard supports Suricata 7.0 and 8.0; this is Suricata {major}.{minor} ({}): the `suriguard` eve-log file type is not registered",
            version.trim()
        )),
        _ if has_sc_conf => Ok(Abi::V8),
        _ if has_conf => Ok(Abi::V7),
        _ => Err(format!(
            "cannot tell which Suricata loaded suriguard (version {version:?}, neither ConfNodeLookupChild nor SCConfNodeLookupChild exported): the `suriguard` eve-log file type is not registered"
        )),
    }
}

/// Major and minor of a version string such as "8.0.8 RELEASE".
fn version_numbers(version: &str) -> (Option<u32>, Option<u32>) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().ok());
    (parts.next().flatten(), parts.next().flatten())
}

/// The running Suricata, resolved on first use (from `SCPluginRegister`).
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(Host::resolve)
}

/// Logs one line through Suricata's logger (which filters by its configured level), or
/// to standard error if this Suricata has no `SCLogMessage`.
/// Everything but the panic hook goes through `tracing` and [`crate::logging`].
pub fn log(level: common::SCLogLevel::Type, file: &str, line: u32, message: &str) {
    let Some(log) = host().log else {
        eprintln!("suriguard: {message}");
        return;
    };
    let c = |s: &str| {
        CString::new(s).unwrap_or_else(|e| {
            let mut bytes = e.into_vec();
            bytes.retain(|&b| b != 0);
            CString::new(bytes).unwrap_or_default()
        })
    };
    let file = c(file);
    let message = c(message);
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call;
    // SCLogMessage copies what it needs and is safe to call from any thread.
    unsafe {
        log(
            level,
            file.as_ptr(),
            line,
            MODULE.as_ptr(),
            MODULE.as_ptr(),
            message.as_ptr(),
        );
    }
}

/// `sclog!(level, "format", args..)`: a `tracing` event at the matching level (with this
/// call site's file and line), which [`crate::logging::SuricataLayer`] hands to Suricata.
macro_rules! sclog {
    ($level:expr, $($arg:tt)+) => {{
        let level = $level;
        if level == $crate::host::ERROR {
            ::tracing::error!($($arg)+)
        } else if level == $crate::host::WARNING {
            ::tracing::warn!($($arg)+)
        } else {
            ::tracing::info!($($arg)+)
        }
    }};
}
pub(crate) use sclog;

/// A borrowed node of Suricata's configuration tree (7.0's `ConfNode` and 8.0's
/// `SCConfNode` have one layout, pinned by the bindings' layout tests). Valid for `'a`, which the caller
/// ties to the callback that received the root pointer (Suricata owns the tree).
#[derive(Clone, Copy)]
pub struct ConfNode<'a> {
    raw: *const v7::ConfNode,
    _tree: PhantomData<&'a v7::ConfNode>,
}

impl<'a> ConfNode<'a> {
    /// # Safety
    /// `raw` must be NULL or point to a live `ConfNode` that stays valid and unmodified
    /// for `'a`.
    pub unsafe fn from_ptr(raw: *const v7::ConfNode) -> Option<ConfNode<'a>> {
        (!raw.is_null()).then_some(ConfNode {
            raw,
            _tree: PhantomData,
        })
    }

    fn node(&self) -> &'a v7::ConfNode {
        // SAFETY: non-NULL and live for 'a by the contract of `from_ptr`.
        unsafe { &*self.raw }
    }

    /// The child named `key`: the first child with that name, as Suricata's own
    /// `ConfNodeLookupChild` finds it (walked here, so no Suricata function is needed).
    pub fn child(&self, key: &CStr) -> Option<ConfNode<'a>> {
        let key = key.to_bytes();
        self.children().find(|c| {
            let n = c.node();
            // SAFETY: a live node's name is NULL or a NUL-terminated string of the tree.
            !n.name.is_null() && unsafe { CStr::from_ptr(n.name) }.to_bytes() == key
        })
    }

    pub fn name(&self) -> Cow<'a, str> {
        // SAFETY: a live node's name is NULL or a NUL-terminated string owned by the
        // tree, which outlives 'a.
        unsafe { cstr_lossy(self.node().name) }.unwrap_or(Cow::Borrowed(""))
    }

    /// The node's value: a scalar, or [`ConfValue::NotScalar`] for maps, sequences and
    /// empty keys.
    pub fn value(&self) -> ConfValue {
        let n = self.node();
        if !n.head.tqh_first.is_null() {
            return ConfValue::NotScalar;
        }
        // SAFETY: a live node's value is NULL or a NUL-terminated string owned by the
        // tree, which outlives 'a.
        match unsafe { cstr_lossy(n.val) } {
            Some(v) => ConfValue::Scalar(v.into_owned()),
            None => ConfValue::NotScalar,
        }
    }

    /// The node's children in file order (walks the TAILQ Suricata keeps).
    pub fn children(&self) -> impl Iterator<Item = ConfNode<'a>> {
        let mut next = self.node().head.tqh_first as *const v7::ConfNode;
        std::iter::from_fn(move || {
            // SAFETY: every element of a live node's child list is a live node of the
            // same tree; the list ends with NULL.
            let cur = unsafe { ConfNode::from_ptr(next)? };
            next = cur.node().next.tqe_next;
            Some(cur)
        })
    }
}

/// Reads a C string from Suricata's configuration tree, replacing invalid UTF-8.
///
/// # Safety
///
/// `p` must be NULL or point to a NUL-terminated string that stays valid and unchanged
/// for `'a` (Suricata's configuration strings live as long as the tree).
unsafe fn cstr_lossy<'a>(p: *const std::ffi::c_char) -> Option<Cow<'a, str>> {
    // SAFETY: the caller guarantees `p` is a valid NUL-terminated string for 'a.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_string_picks_the_layout() {
        assert_eq!(abi_of("7.0.10 RELEASE", false, true), Ok(Abi::V7));
        assert_eq!(abi_of("8.0.8 RELEASE", true, false), Ok(Abi::V8));
        assert_eq!(
            abi_of("8.0.0-dev (abc123 2025-01-01)", true, false),
            Ok(Abi::V8)
        );
        // The version wins over the symbols.
        assert_eq!(abi_of("7.0.3 RELEASE", true, true), Ok(Abi::V7));
    }

    #[test]
    fn other_versions_are_refused_with_one_clear_reason() {
        for v in [
            "8.1.0 RELEASE",
            "9.0.0-dev (deadbeef)",
            "6.0.20 RELEASE",
            "7.1.0",
        ] {
            let e = abi_of(v, true, true).unwrap_err();
            assert!(e.contains("supports Suricata 7.0 and 8.0"), "{v}: {e}");
            assert!(e.contains(v.trim()), "{v}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn without_a_version_the_exported_names_decide() {
        assert_eq!(abi_of("", true, false), Ok(Abi::V8));
        assert_eq!(abi_of("", false, true), Ok(Abi::V7));
        assert!(abi_of("", false, false).is_err());
    }
}
