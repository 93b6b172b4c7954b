//! The C entry points Suricata calls, each wrapped in [`ffi_boundary!`].
//!
//! Ownership, as Suricata 7.0 uses these callbacks:
//! - [`SCPluginRegister`] returns a process-lifetime `SCPlugin` that is never freed.
//! - `plugin_init` registers a process-lifetime `SCEveFileType`; Suricata links it into
//!   its file-type list (it writes the TAILQ entry), so it lives in leaked heap memory.
//! - `eve_init` allocates an [`Output`] and hands it to Suricata as `init_data`; Suricata
//!   passes it back to every other callback and `eve_deinit` frees it. `suricata -T`
//!   never calls `Deinit`, so the worker of a test run simply ends with the process.
//! - `eve_thread_init` allocates a [`ThreadCtx`] per eve thread; `eve_thread_deinit`
//!   frees it. NULL is accepted everywhere a pointer is freed.
//! - The record buffer given to `eve_write` belongs to Suricata and is only valid for the
//!   call; it is copied before `eve_write` returns.

use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Once, OnceLock};

use suricata_plugin_sys as sys;
use suriguard_guard::settings::{self, PluginSettings};

use crate::host::{self, sclog, ConfNode};
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

/// Per-thread data for threaded eve outputs.
struct ThreadCtx {
    #[allow(dead_code)]
    thread_id: c_int,
}

/// The plugin's entry point, found by Suricata with `dlsym`.
#[no_mangle]
pub extern "C" fn SCPluginRegister() -> *mut sys::SCPlugin {
    static PLUGIN: OnceLock<usize> = OnceLock::new();
    ffi_boundary!(std::ptr::null_mut(), {
        let addr = *PLUGIN.get_or_init(|| {
            let plugin = Box::new(sys::SCPlugin {
                name: c"suriguard".as_ptr(),
                license: c"GPLv2".as_ptr(),
                author: c"suriguard developers".as_ptr(),
                Init: Some(plugin_init),
            });
            Box::into_raw(plugin) as usize
        });
        addr as *mut sys::SCPlugin
    })
}

extern "C" fn plugin_init() {
    ffi_boundary!((), {
        install_panic_hook();
        crate::logging::install();
        static REGISTERED: Once = Once::new();
        REGISTERED.call_once(|| {
            let filetype = Box::leak(Box::new(sys::SCEveFileType {
                name: FILETYPE_NAME.as_ptr(),
                Init: Some(eve_init),
                Write: Some(eve_write),
                Deinit: Some(eve_deinit),
                ThreadInit: Some(eve_thread_init),
                ThreadDeinit: Some(eve_thread_deinit),
                ..Default::default()
            }));
            // SAFETY: `filetype` is leaked, so it outlives the process's use of it, and
            // Suricata is the only one to touch it from here on.
            if !unsafe { sys::SCRegisterEveFileType(filetype) } {
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

extern "C" fn eve_init(
    conf: *mut sys::ConfNode,
    threaded: bool,
    init_data: *mut *mut c_void,
) -> c_int {
    ffi_boundary!(-1, {
        if init_data.is_null() {
            sclog!(host::ERROR, "Init called without a place for init_data");
            return -1;
        }
        // SAFETY: Suricata passes the eve-log output's node, live for this call.
        let eve = unsafe { ConfNode::from_ptr(conf) };
        let settings = match read_settings(eve) {
            Ok(s) => s,
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
                    "started (queue-size {}, queue-bytes {}, max-record-size {}, threaded {}, config {})",
                    s.queue_size,
                    s.queue_bytes,
                    s.max_record_size,
                    if threaded { "yes" } else { "no" },
                    s.config
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

extern "C" fn eve_write(
    buffer: *const c_char,
    buffer_len: c_int,
    init_data: *mut c_void,
    _thread_data: *mut c_void,
) -> c_int {
    // SAFETY: init_data is NULL or the Output that eve_init handed to Suricata, which
    // stays alive until eve_deinit, after the last Write. Only shared access happens here.
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

extern "C" fn eve_deinit(init_data: *mut c_void) {
    ffi_boundary!((), {
        if init_data.is_null() {
            return;
        }
        // SAFETY: init_data came from Box::into_raw in eve_init and Suricata calls Deinit
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

extern "C" fn eve_thread_init(
    init_data: *mut c_void,
    thread_id: c_int,
    thread_data: *mut *mut c_void,
) -> c_int {
    ffi_boundary!(-1, {
        if thread_data.is_null() {
            return -1;
        }
        // SAFETY: as in eve_write: NULL or our live Output, shared access only.
        if let Some(output) = unsafe { init_data.cast::<Output>().as_ref() } {
            output.count_thread();
        }
        // SAFETY: checked non-NULL; Suricata owns the slot and hands the pointer back to
        // Write and ThreadDeinit.
        unsafe { *thread_data = Box::into_raw(Box::new(ThreadCtx { thread_id })).cast() };
        0
    })
}

extern "C" fn eve_thread_deinit(_init_data: *mut c_void, thread_data: *mut c_void) -> c_int {
    ffi_boundary!(-1, {
        if !thread_data.is_null() {
            // SAFETY: thread_data came from Box::into_raw in eve_thread_init and is freed
            // once, here.
            drop(unsafe { Box::from_raw(thread_data.cast::<ThreadCtx>()) });
        }
        0
    })
}
