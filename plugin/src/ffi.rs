//! The C entry points Suricata calls, each wrapped in [`ffi_boundary!`].
//!
//! One library serves Suricata 7.0 and 8.0. [`SCPluginRegister`] asks [`host()`] which
//! one loaded it (its version string, or the names it exports) and answers with that
//! major's `SCPlugin`; `plugin_init` registers that major's `SCEveFileType`. The two
//! file types share every callback body; only the thin `extern "C"` shims differ (8.0
//! reorders the callbacks, passes const pointers and a `uint32_t` thread id, and its
//! `ThreadDeinit` returns nothing). Any other Suricata gets one error line and no file
//! type, never a wrong layout.
//!
//! Ownership, as Suricata uses these callbacks:
//! - [`SCPluginRegister`] returns a process-lifetime `SCPlugin` that is never freed.
//! - `plugin_init` registers a process-lifetime `SCEveFileType`; Suricata links it into
//!   its file-type list (it writes the TAILQ entry), so it lives in leaked heap memory.
//! - `init` allocates an [`Output`] and hands it to Suricata as `init_data`; Suricata
//!   passes it back to every other callback and `deinit` frees it. `suricata -T`
//!   never calls `Deinit`, so the worker of a test run simply ends with the process.
//! - `thread_init` allocates a [`ThreadCtx`] per eve thread; `thread_deinit` frees it.
//!   NULL is accepted everywhere a pointer is freed.
//! - The record buffer given to `write` belongs to Suricata and is only valid for the
//!   call; it is copied before `write` returns.

use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Once, OnceLock};

use suricata_plugin_sys::{v7, v8};
use suriguard_guard::settings::{self, PluginSettings};

use crate::host::{self, host, sclog, Abi, ConfNode};
use crate::output::{self, Output};

/// Runs `$body`, turning a panic into `$on_panic`. Every `extern "C"` function's body
/// goes through here: unwinding into C is undefined behaviour and aborts Suricata.
/// The panic hook installed by `plugin_init` has already logged the panic as one line.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        match catch_unwind(AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
}

/// Writes that arrived with a NULL `init_data`: nothing else can count them.
static ORPHAN_WRITES: AtomicU64 = AtomicU64::new(0);

const FILETYPE_NAME: &std::ffi::CStr = c"suriguard";
const PLUGIN_NAME: &std::ffi::CStr = c"suriguard";
const LICENSE: &std::ffi::CStr = c"GPLv2";
const AUTHOR: &std::ffi::CStr = c"suriguard developers";
/// What 8.0 shows as the plugin's version, and the Suricata it was built for.
const PLUGIN_VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("the package version contains a NUL byte"),
};
const BUILT_FOR_8: &std::ffi::CStr = c"8.0";

/// Per-thread data for threaded eve outputs.
struct ThreadCtx {
    #[allow(dead_code)]
    thread_id: u32,
}

/// The plugin's entry point, found by Suricata with `dlsym`. Returns the `SCPlugin` of
/// the running Suricata's major; never NULL (7.0 would dereference it).
#[no_mangle]
pub extern "C" fn SCPluginRegister() -> *mut c_void {
    static PLUGIN: OnceLock<usize> = OnceLock::new();
    ffi_boundary!(std::ptr::null_mut(), {
        let addr = *PLUGIN.get_or_init(|| {
            let h = host();
            let init: unsafe extern "C" fn() = match &h.abi {
                Ok(_) => plugin_init,
                Err(why) => {
                    // Said once, here; Suricata 8 adds its own line when it refuses the
                    // version below.
                    host::log(host::ERROR, file!(), line!(), why);
                    plugin_init_unsupported
                }
            };
            // An unsupported Suricata before 8.0 reads 7.0's layout (6.0 has it too);
            // a later one gets 8.0's, which every Suricata since 8.0 checks by its
            // `version` first and refuses on a mismatch without touching the rest.
            let legacy = match h.abi {
                Ok(abi) => abi == Abi::V7,
                Err(_) => h.major().is_some_and(|major| major < 8),
            };
            match legacy {
                true => Box::into_raw(Box::new(v7::SCPlugin {
                    name: PLUGIN_NAME.as_ptr(),
                    license: LICENSE.as_ptr(),
                    author: AUTHOR.as_ptr(),
                    Init: Some(init),
                })) as usize,
                false => Box::into_raw(Box::new(v8::SCPlugin {
                    version: u64::from(v8::SC_API_VERSION),
                    suricata_version: BUILT_FOR_8.as_ptr(),
                    name: PLUGIN_NAME.as_ptr(),
                    plugin_version: PLUGIN_VERSION.as_ptr(),
                    license: LICENSE.as_ptr(),
                    author: AUTHOR.as_ptr(),
                    Init: Some(init),
                })) as usize,
            }
        });
        addr as *mut c_void
    })
}

/// `Init` for a Suricata whose ABI we do not know: registers nothing (the reason was
/// logged at registration).
extern "C" fn plugin_init_unsupported() {}

extern "C" fn plugin_init() {
    ffi_boundary!((), {
        install_panic_hook();
        crate::logging::install();
        static REGISTERED: Once = Once::new();
        REGISTERED.call_once(|| {
            let h = host();
            let ok = match h.abi {
                Ok(Abi::V7) => {
                    let filetype = Box::leak(Box::new(v7::SCEveFileType {
                        name: FILETYPE_NAME.as_ptr(),
                        Init: Some(init7),
                        Write: Some(write7),
                        Deinit: Some(deinit),
                        ThreadInit: Some(thread_init7),
                        ThreadDeinit: Some(thread_deinit7),
                        ..Default::default()
                    }));
                    // SAFETY: a 7.0 host; `filetype` is leaked, so it outlives the
                    // process's use of it, and Suricata is the only one to touch it now.
                    unsafe { h.register_v7(filetype) }
                }
                Ok(Abi::V8) => {
                    let filetype = Box::leak(Box::new(v8::SCEveFileType {
                        name: FILETYPE_NAME.as_ptr(),
                        Init: Some(init8),
                        ThreadInit: Some(thread_init8),
                        Write: Some(write8),
                        ThreadDeinit: Some(thread_deinit8),
                        Deinit: Some(deinit),
                        ..Default::default()
                    }));
                    // SAFETY: as above, on an 8.0 host.
                    unsafe { h.register_v8(filetype) }
                }
                Err(_) => return,
            };
            if ok {
                tracing::debug!(
                    "registered the `suriguard` EVE file type (Suricata {})",
                    h.version
                );
            } else {
                sclog!(
                    host::ERROR,
                    "Suricata refused to register the `suriguard` EVE file type"
                );
            }
        });
    })
}

/// Logs panics as one line through Suricata's logger, never with a backtrace. The hook
/// is this library's own (its std is not Suricata's), so it affects only our panics.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("non-text panic payload");
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            // Straight to Suricata: a panic hook must not depend on the subscriber.
            host::log(
                host::ERROR,
                file!(),
                line!(),
                &format!("contained a panic at {at}: {what}"),
            );
        }));
    });
}

extern "C" fn init7(conf: *mut v7::ConfNode, threaded: bool, init_data: *mut *mut c_void) -> c_int {
    init(conf, threaded, init_data)
}

extern "C" fn init8(
    conf: *const v8::SCConfNode,
    threaded: bool,
    init_data: *mut *mut c_void,
) -> c_int {
    // 8.0's SCConfNode has 7.0's layout (the bindings' layout tests pin it).
    init(conf.cast(), threaded, init_data)
}

fn init(conf: *const v7::ConfNode, threaded: bool, init_data: *mut *mut c_void) -> c_int {
    ffi_boundary!(-1, {
        if init_data.is_null() {
            sclog!(host::ERROR, "Init called without a place for init_data");
            return -1;
        }
        // SAFETY: Suricata passes the eve-log output's node, live for this call.
        let eve = unsafe { ConfNode::from_ptr(conf) };
        let settings = match read_settings(eve) {
            Ok(mut s) => {
                // A relative eve-file is in Suricata's log directory, like its own files.
                if let Some(file) = s.eve_file.as_mut().filter(|f| f.is_relative()) {
                    if let Some(dir) = host().log_dir() {
                        *file = dir.join(&*file);
                    }
                }
                s
            }
            Err(e) => {
                sclog!(
                    host::ERROR,
                    "invalid eve-log `{}` settings: {e}",
                    settings::NODE_NAME
                );
                return -1;
            }
        };
        match Output::start(settings, threaded) {
            Ok(output) => {
                let s = output.settings();
                sclog!(
                    host::NOTICE,
                    "started in Suricata {} (queue-size {}, queue-bytes {}, max-record-size {}, threaded {}, config {}, eve-file {})",
                    host().version.trim(),
                    s.queue_size,
                    s.queue_bytes,
                    s.max_record_size,
                    if threaded { "yes" } else { "no" },
                    s.config
                        .as_deref()
                        .map_or("none".into(), |p| p.display().to_string()),
                    s.eve_file
                        .as_deref()
                        .map_or("none".into(), |p| p.display().to_string())
                );
                // SAFETY: checked non-NULL above; Suricata owns the slot.
                unsafe { *init_data = Box::into_raw(Box::new(output)).cast() };
                0
            }
            Err(e) => {
                sclog!(host::ERROR, "cannot start: {e}");
                -1
            }
        }
    })
}

fn read_settings(eve: Option<ConfNode<'_>>) -> Result<PluginSettings, settings::SettingsError> {
    match eve.and_then(|e| e.child(c"suriguard")) {
        None => Ok(PluginSettings::default()),
        Some(node) => PluginSettings::from_entries(node.children().map(|c| (c.name(), c.value()))),
    }
}

extern "C" fn write7(
    buffer: *const c_char,
    buffer_len: c_int,
    init_data: *mut c_void,
    _thread_data: *mut c_void,
) -> c_int {
    write(buffer, buffer_len, init_data)
}

extern "C" fn write8(
    buffer: *const c_char,
    buffer_len: c_int,
    init_data: *const c_void,
    _thread_data: *mut c_void,
) -> c_int {
    write(buffer, buffer_len, init_data)
}

#[inline]
fn write(buffer: *const c_char, buffer_len: c_int, init_data: *const c_void) -> c_int {
    // SAFETY: init_data is NULL or the Output that init handed to Suricata, which stays
    // alive until deinit, after the last Write. Only shared access happens here.
    let Some(output) = (unsafe { init_data.cast::<Output>().as_ref() }) else {
        ORPHAN_WRITES.fetch_add(1, Relaxed);
        return -1;
    };
    ffi_boundary!(
        {
            output.count_write_panic();
            -1
        },
        {
            let record = match usize::try_from(buffer_len) {
                Ok(len) if !buffer.is_null() => {
                    // SAFETY: Suricata guarantees `buffer` holds `buffer_len` readable
                    // bytes for the duration of this call; NULL and negative lengths are
                    // excluded above. The slice does not outlive the call.
                    Some(unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), len) })
                }
                _ => None,
            };
            output.write(record);
            0
        }
    )
}

extern "C" fn deinit(init_data: *mut c_void) {
    ffi_boundary!((), {
        if init_data.is_null() {
            return;
        }
        // SAFETY: init_data came from Box::into_raw in init and Suricata calls Deinit
        // once, after every Write and ThreadDeinit.
        let output = unsafe { Box::from_raw(init_data.cast::<Output>()) };
        let stats_file = output.settings().stats_file.clone();
        let stats = output.shutdown();
        sclog!(host::NOTICE, "{}", stats.summary_line());
        let orphans = ORPHAN_WRITES.load(Relaxed);
        if orphans > 0 {
            sclog!(
                host::WARNING,
                "{orphans} writes arrived without init_data and were dropped"
            );
        }
        if let Some(path) = stats_file {
            if let Err(e) = output::write_stats_file(&path, &stats) {
                sclog!(
                    host::ERROR,
                    "cannot write stats-file {}: {e}",
                    path.display()
                );
            }
        }
    })
}

extern "C" fn thread_init7(
    init_data: *mut c_void,
    thread_id: c_int,
    thread_data: *mut *mut c_void,
) -> c_int {
    thread_init(init_data, thread_id as u32, thread_data)
}

extern "C" fn thread_init8(
    init_data: *const c_void,
    thread_id: v8::ThreadId,
    thread_data: *mut *mut c_void,
) -> c_int {
    thread_init(init_data, thread_id, thread_data)
}

fn thread_init(init_data: *const c_void, thread_id: u32, thread_data: *mut *mut c_void) -> c_int {
    ffi_boundary!(-1, {
        if thread_data.is_null() {
            return -1;
        }
        // SAFETY: as in write: NULL or our live Output, shared access only.
        if let Some(output) = unsafe { init_data.cast::<Output>().as_ref() } {
            output.count_thread();
        }
        // SAFETY: checked non-NULL; Suricata owns the slot and hands the pointer back to
        // Write and ThreadDeinit.
        unsafe { *thread_data = Box::into_raw(Box::new(ThreadCtx { thread_id })).cast() };
        0
    })
}

extern "C" fn thread_deinit7(_init_data: *mut c_void, thread_data: *mut c_void) -> c_int {
    thread_deinit(thread_data);
    0
}

extern "C" fn thread_deinit8(_init_data: *const c_void, thread_data: *mut c_void) {
    thread_deinit(thread_data)
}

fn thread_deinit(thread_data: *mut c_void) {
    ffi_boundary!((), {
        if !thread_data.is_null() {
            // SAFETY: thread_data came from Box::into_raw in thread_init and is freed
            // once, here.
            drop(unsafe { Box::from_raw(thread_data.cast::<ThreadCtx>()) });
        }
    })
}
