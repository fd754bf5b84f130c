//! Errors cross to JavaScript as real `Error` objects with `code` (and, for
//! I/O errors, `ioCode`) set here, so JS never parses a message. A panic in
//! caldo becomes an `ERR_INTERNAL` error instead of taking the process down.

use std::any::Any;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use caldo_core::{Code, Error as CoreError};
use napi::bindgen_prelude::*;
use napi::sys;

/// A call's result: converted to its value, or thrown (or rejected) as a
/// coded JS error. Every fallible native method returns one.
pub struct Outcome<T>(pub caldo_core::Result<T>);

fn internal(panic: Box<dyn Any + Send>) -> CoreError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    CoreError::new(
        Code::Internal,
        format!("caldo hit a bug ({what}); please report it with the steps that led here"),
    )
}

/// Runs `f` on the calling thread; a panic becomes `ERR_INTERNAL`.
pub fn guard<T>(f: impl FnOnce() -> caldo_core::Result<T>) -> Outcome<T> {
    Outcome(catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(internal(p))))
}

/// Runs `f` on a blocking thread (file I/O, fsync), which settles the
/// returned promise itself, through a threadsafe function: two thread
/// wake-ups a call, where an `async fn` awaiting `spawn_blocking` cost four
/// (a tokio worker between the JS thread and the blocking one, both ways).
pub fn blocking<'env, T: ToNapiValue + Send + 'static>(
    env: &'env Env,
    f: impl FnOnce() -> caldo_core::Result<T> + Send + 'static,
) -> Result<PromiseRaw<'env, Outcome<T>>> {
    let (deferred, promise) = env.create_deferred()?;
    napi::bindgen_prelude::spawn_blocking(move || {
        let out = guard(f);
        deferred.resolve(move |_| Ok(out));
    });
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}

/// Bad arguments are `TypeError`s, as in Node's own APIs.
fn is_type_error(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArg | Code::InvalidTopic | Code::InvalidPartition | Code::InvalidGroup
    )
}

fn js_string(env: sys::napi_env, s: &str) -> Result<sys::napi_value> {
    unsafe { String::to_napi_value(env, s.to_string()) }
}

fn set(env: sys::napi_env, obj: sys::napi_value, key: &str, value: &str) -> Result<()> {
    let key = CString::new(key).expect("property names have no NUL");
    let value = js_string(env, value)?;
    check_status!(unsafe { sys::napi_set_named_property(env, obj, key.as_ptr(), value) })
}

/// The JS error for `e`, as a napi error that carries the object itself.
fn to_js(env: sys::napi_env, e: CoreError) -> Result<Error> {
    let (code, message) = (
        js_string(env, e.code.as_str())?,
        js_string(env, &e.message)?,
    );
    let mut obj = ptr::null_mut();
    let create = if is_type_error(e.code) {
        sys::napi_create_type_error
    } else {
        sys::napi_create_error
    };
    check_status!(unsafe { create(env, code, message, &mut obj) })?;
    if let Some(errno) = e.errno {
        set(env, obj, "ioCode", errno)?;
    }
    Ok(Error::from(unsafe {
        Unknown::from_raw_unchecked(env, obj)
    }))
}

impl<T: ToNapiValue> ToNapiValue for Outcome<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        match val.0 {
            Ok(v) => unsafe { T::to_napi_value(env, v) },
            Err(e) => Err(to_js(env, e)?),
        }
    }
}

impl<T: TypeName> TypeName for Outcome<T> {
    fn type_name() -> &'static str {
        T::type_name()
    }

    fn value_type() -> ValueType {
        T::value_type()
    }
}

/// Every error code, for the JS layer's list (`lib/errors.js`).
#[napi_derive::napi]
pub fn error_codes() -> Vec<&'static str> {
    Code::ALL.iter().map(|c| c.as_str()).collect()
}

/// The codes that are `TypeError`s, so JS raises its own the same way.
#[napi_derive::napi]
pub fn type_error_codes() -> Vec<&'static str> {
    let codes = Code::ALL.iter().filter(|c| is_type_error(**c));
    codes.map(|c| c.as_str()).collect()
}

/// Panics on purpose, on the calling thread or (`onWorker`) a blocking one:
/// the tests prove a bug becomes `ERR_INTERNAL` and the process goes on.
#[napi_derive::napi(js_name = "__panicForTests")]
pub fn panic_for_tests<'env>(
    env: &'env Env,
    on_worker: bool,
) -> Result<PromiseRaw<'env, Outcome<()>>> {
    if on_worker {
        return blocking(env, || panic!("a panic on a worker thread, on purpose"));
    }
    let out: Outcome<()> = guard(|| panic!("a panic on the calling thread, on purpose"));
    let (deferred, promise) = env.create_deferred()?;
    deferred.resolve(move |_| Ok(out));
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}
