//! Fetched records handed to JS in memory that V8 owns. Node runs the
//! finalizers of external (native-owned) buffers only when its event loop
//! turns, which a replay that always has data never lets happen; so each
//! batch is copied once into a V8 ArrayBuffer, which the garbage collector
//! both counts and frees on its own, and a replay of any length stays within
//! a fixed amount of memory.

use std::mem::size_of;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

/// A `Vec` that becomes a `Buffer` (`u8`), `Int32Array` (`i32`) or
/// `Float64Array` (`f64`) in V8's memory.
pub struct InV8<T>(pub Vec<T>);

/// The typed array kind of each element type; `None`: a Buffer.
pub trait Element: Copy + 'static {
    const KIND: Option<sys::napi_typedarray_type>;
}

impl Element for u8 {
    const KIND: Option<sys::napi_typedarray_type> = None;
}

impl Element for i32 {
    const KIND: Option<sys::napi_typedarray_type> = Some(sys::TypedarrayType::int32_array);
}

impl Element for f64 {
    const KIND: Option<sys::napi_typedarray_type> = Some(sys::TypedarrayType::float64_array);
}

impl<T: Element> ToNapiValue for InV8<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let (len, bytes) = (val.0.len(), val.0.len() * size_of::<T>());
        let (mut buffer, mut data) = (ptr::null_mut(), ptr::null_mut());
        check_status!(unsafe {
            match T::KIND {
                None => sys::napi_create_buffer(env, bytes, &mut data, &mut buffer),
                Some(_) => sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer),
            }
        })?;
        if bytes > 0 {
            // SAFETY: `data` points at `bytes` fresh bytes V8 allocated above.
            unsafe { ptr::copy_nonoverlapping(val.0.as_ptr().cast::<u8>(), data.cast(), bytes) };
        }
        let Some(kind) = T::KIND else {
            return Ok(buffer);
        };
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_typedarray(env, kind, len, buffer, 0, &mut out) })?;
        Ok(out)
    }
}

impl<T> TypeName for InV8<T> {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}
