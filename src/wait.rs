//! How `NativeLog.wait` sleeps. Where the kernel has io_uring's futex wait,
//! the wait is armed in a ring ([`caldo_core::Ring`]) whose fd libuv polls on
//! the JS thread: an append in any process wakes the JS thread itself, and
//! the promise is settled there. Elsewhere a blocking thread sleeps on the
//! word and settles the promise, which costs two more thread wake-ups.

use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use caldo_core::{Log, Ring};
use napi::bindgen_prelude::*;
use napi::sys;

use crate::error::guard;

// libuv, as Node exports it: a poll handle on the ring's fd.
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;
type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type CloseCb = unsafe extern "C" fn(handle: *mut c_void);
extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(uv_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    fn uv_close(handle: *mut c_void, cb: CloseCb);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// A ring polled by the event loop, and the promises of its armed waits.
/// Lives on the JS thread; libuv's handle points back at it (`data`, the
/// first field of every uv handle).
pub(crate) struct Polled {
    ring: Ring,
    env: sys::napi_env,
    /// The async context promises are settled in, and its resource object.
    context: sys::napi_async_context,
    resource: sys::napi_ref,
    handle: *mut c_void,
    pending: HashMap<u64, sys::napi_deferred>,
    next: u64,
}

/// A log's waits: the ring once made, or `Unavailable` after the kernel
/// refused one.
#[derive(Default)]
pub(crate) enum Waits {
    #[default]
    Unmade,
    Unavailable,
    Polled(*mut Polled),
}

// SAFETY: `Waits` is touched only by `NativeLog`'s `&mut self` methods and its
// finalizer, which napi runs on the JS thread; the log's async methods, whose
// futures run elsewhere, borrow the log but use only its `inner`.
unsafe impl Send for Waits {}
unsafe impl Sync for Waits {}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::from_status(Status::from(status)))
    }
}

unsafe fn resolve(env: sys::napi_env, deferred: sys::napi_deferred, moved: bool) -> Result<()> {
    let mut v = ptr::null_mut();
    check(sys::napi_get_boolean(env, moved, &mut v))?;
    check(sys::napi_resolve_deferred(env, deferred, v))
}

/// A promise already settled with `moved`.
fn settled(env: sys::napi_env, moved: bool) -> Result<sys::napi_value> {
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    unsafe {
        check(sys::napi_create_promise(env, &mut deferred, &mut promise))?;
        resolve(env, deferred, moved)?;
    }
    Ok(promise)
}

impl Waits {
    /// A promise of whether the wake-up counter moved past `seen` within
    /// `timeout` (false at once on a closed log).
    pub(crate) fn wait(
        &mut self,
        env: &Env,
        log: &Arc<Log>,
        seen: u32,
        timeout: Duration,
    ) -> Result<sys::napi_value> {
        let raw = env.raw();
        if log.is_closed() {
            return settled(raw, false);
        }
        if let Waits::Unmade = self {
            // A ring libuv cannot poll is no use: wait on a thread then.
            *self = match log.ring().map(|ring| Polled::start(raw, ring)) {
                Some(Ok(p)) => Waits::Polled(p),
                _ => Waits::Unavailable,
            };
        }
        if let Waits::Polled(p) = *self {
            // SAFETY: `p` is only touched on this thread, and not inside `on_ready`.
            let p = unsafe { &mut *p };
            let id = p.next;
            if p.ring.arm(id, seen, timeout).is_ok() {
                p.next += 1;
                let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
                unsafe { check(sys::napi_create_promise(raw, &mut deferred, &mut promise))? };
                if p.pending.is_empty() {
                    unsafe { uv_ref(p.handle) };
                }
                p.pending.insert(id, deferred);
                return Ok(promise);
            }
        }
        on_thread(env, log, seen, timeout)
    }

    /// Settles every pending wait as not moved and lets the ring go (the log closes).
    pub(crate) fn end(&mut self, env: &Env) -> Result<()> {
        let Waits::Polled(p) = *self else {
            return Ok(());
        };
        // Closed here, not by `drop`.
        std::mem::forget(std::mem::replace(self, Waits::Unavailable));
        // SAFETY: as in `wait`; `close` frees it later, from libuv.
        let pending = std::mem::take(unsafe { &mut (*p).pending });
        unsafe { Polled::close(p) };
        for (_, deferred) in pending {
            unsafe { resolve(env.raw(), deferred, false)? };
        }
        Ok(())
    }
}

impl Drop for Waits {
    // A log collected without close(): its pending promises can no longer be awaited.
    fn drop(&mut self) {
        if let Waits::Polled(p) = *self {
            unsafe { Polled::close(p) };
        }
    }
}

/// The fallback: a blocking thread sleeps on the word and settles the promise.
fn on_thread(env: &Env, log: &Arc<Log>, seen: u32, timeout: Duration) -> Result<sys::napi_value> {
    let log = log.clone();
    let (deferred, promise) = env.create_deferred()?;
    napi::bindgen_prelude::spawn_blocking(move || {
        let moved = guard(|| Ok(log.wait(seen, timeout)));
        deferred.resolve(move |_| Ok(moved));
    });
    Ok(promise.raw())
}

impl Polled {
    fn start(env: sys::napi_env, ring: Ring) -> Result<*mut Polled> {
        let mut uv_loop = ptr::null_mut();
        let (mut context, mut resource) = (ptr::null_mut(), ptr::null_mut());
        unsafe {
            check(sys::napi_get_uv_event_loop(env, &mut uv_loop))?;
            let mut object = ptr::null_mut();
            check(sys::napi_create_object(env, &mut object))?;
            check(sys::napi_create_reference(env, object, 1, &mut resource))?;
            let mut name = ptr::null_mut();
            check(sys::napi_create_string_utf8(
                env,
                c"caldo.wait".as_ptr(),
                10,
                &mut name,
            ))?;
            check(sys::napi_async_init(env, object, name, &mut context))?;
        }
        let handle =
            Box::into_raw(vec![0u8; unsafe { uv_handle_size(UV_POLL) }].into_boxed_slice());
        let handle = handle.cast::<c_void>();
        let polled = Box::into_raw(Box::new(Polled {
            ring,
            env,
            context,
            resource,
            handle,
            pending: HashMap::new(),
            next: 0,
        }));
        unsafe {
            let fd = (*polled).ring.fd();
            if uv_poll_init(uv_loop, handle, fd) != 0 {
                sys::napi_async_destroy(env, context);
                sys::napi_delete_reference(env, resource);
                drop(Box::from_raw(polled));
                free_handle(handle);
                return Err(Error::from_reason("libuv refused to poll the wait ring"));
            }
            *handle.cast::<*mut Polled>() = polled;
            if uv_poll_start(handle, UV_READABLE, on_ready) != 0 {
                Polled::close(polled);
                return Err(Error::from_reason("libuv refused to poll the wait ring"));
            }
            // Only pending waits keep the process alive.
            uv_unref(handle);
        }
        Ok(polled)
    }

    /// Stops polling; libuv frees the handle and `Polled` once it let go.
    unsafe fn close(p: *mut Polled) {
        sys::napi_async_destroy((*p).env, (*p).context);
        sys::napi_delete_reference((*p).env, (*p).resource);
        uv_close((*p).handle, on_closed);
    }
}

unsafe fn free_handle(handle: *mut c_void) {
    let size = uv_handle_size(UV_POLL);
    drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
        handle.cast::<u8>(),
        size,
    )));
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    drop(Box::from_raw(*handle.cast::<*mut Polled>()));
    free_handle(handle);
}

/// Waits completed: settle their promises in a callback scope, so that
/// what awaits them runs now, as after any I/O callback.
unsafe extern "C" fn on_ready(handle: *mut c_void, _status: c_int, _events: c_int) {
    let p = *handle.cast::<*mut Polled>();
    let (env, context, resource) = ((*p).env, (*p).context, (*p).resource);
    let done: Vec<(sys::napi_deferred, bool)> = {
        let p = &mut *p;
        let done = p.ring.completed();
        let settle = done
            .into_iter()
            .filter_map(|(id, moved)| p.pending.remove(&id).map(|d| (d, moved)))
            .collect();
        if p.pending.is_empty() {
            uv_unref(p.handle);
        }
        settle
    };
    if done.is_empty() {
        return;
    }
    // Nothing of `Polled` is borrowed from here: what runs in the scope may wait again.
    let mut scope = ptr::null_mut();
    sys::napi_open_handle_scope(env, &mut scope);
    let mut object = ptr::null_mut();
    sys::napi_get_reference_value(env, resource, &mut object);
    let mut callback = ptr::null_mut();
    sys::napi_open_callback_scope(env, object, context, &mut callback);
    for (deferred, moved) in done {
        // Fails only as the environment shuts down, when no one awaits it.
        let _ = resolve(env, deferred, moved);
    }
    sys::napi_close_callback_scope(env, callback);
    sys::napi_close_handle_scope(env, scope);
}
