//! Safe wrappers around what Suricata offers the plugin: its logger and its
//! configuration tree. The raw declarations live in `suricata-plugin-sys`.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;

use suricata_plugin_sys as sys;
use suriguard_guard::ConfValue;

pub use sys::SCLogLevel::{
    SC_LOG_DEBUG as DEBUG, SC_LOG_ERROR as ERROR, SC_LOG_INFO as INFO, SC_LOG_NOTICE as NOTICE,
    SC_LOG_WARNING as WARNING,
};

const MODULE: &CStr = c"suriguard";

/// Logs one line through Suricata's logger (which filters by its configured level).
/// Everything but the panic hook goes through `tracing` and [`crate::logging`].
pub fn log(level: sys::SCLogLevel::Type, file: &str, line: u32, message: &str) {
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
        sys::SCLogMessage(
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

/// A borrowed node of Suricata's configuration tree. Valid for `'a`, which the caller
/// ties to the callback that received the root pointer (Suricata owns the tree).
#[derive(Clone, Copy)]
pub struct ConfNode<'a> {
    raw: *const sys::ConfNode,
    _tree: PhantomData<&'a sys::ConfNode>,
}

impl<'a> ConfNode<'a> {
    /// # Safety
    /// `raw` must be NULL or point to a live `ConfNode` that stays valid and unmodified
    /// for `'a`.
    pub unsafe fn from_ptr(raw: *const sys::ConfNode) -> Option<ConfNode<'a>> {
        (!raw.is_null()).then_some(ConfNode {
            raw,
            _tree: PhantomData,
        })
    }

    fn node(&self) -> &'a sys::ConfNode {
        // SAFETY: non-NULL and live for 'a by the contract of `from_ptr`.
        unsafe { &*self.raw }
    }

    /// The child named `key`, looked up by Suricata itself.
    pub fn child(&self, key: &CStr) -> Option<ConfNode<'a>> {
        // SAFETY: self.raw is a live node, key a valid C string; the result is NULL or a
        // node of the same tree, so it lives as long as self.
        unsafe { ConfNode::from_ptr(sys::ConfNodeLookupChild(self.raw, key.as_ptr())) }
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
        let mut next = self.node().head.tqh_first as *const sys::ConfNode;
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
