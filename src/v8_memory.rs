//! Fetched records handed to JS in memory that V8 owns. Node runs the
//! finalizers of external (native-owned) buffers only when its event loop
//! turns, which a replay that always has data never lets happen; so each
//! batch is copied once into a V8 ArrayBuffer, which the garbage collector
//! both counts and frees on its own, and a replay of any length stays within
//! a fixed amount of memory.

use std::mem::size_of_val;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

/// Plain numbers whose bytes can be copied as they are.
pub trait Plain: Copy + 'static {}
impl Plain for u32 {}
impl Plain for i32 {}
impl Plain for f64 {}

/// The bytes of `v`, in this machine's byte order (JS typed arrays' too).
pub fn bytes_of<T: Plain>(v: &[T]) -> &[u8] {
    // SAFETY: `Plain` types have no padding and every byte is initialized.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), size_of_val(v)) }
}

/// A new `Buffer` in V8's memory holding `parts` end to end: one allocation
/// for what JS then views as several arrays.
///
/// # Safety
/// `env` is the current call's environment.
pub unsafe fn buffer(env: sys::napi_env, parts: &[&[u8]]) -> Result<sys::napi_value> {
    let len = parts.iter().map(|p| p.len()).sum();
    let (mut buffer, mut data) = (ptr::null_mut(), ptr::null_mut());
    check_status!(unsafe { sys::napi_create_buffer(env, len, &mut data, &mut buffer) })?;
    // SAFETY: `data` points at `len` fresh bytes V8 allocated above.
    unsafe { fill(data, parts) };
    Ok(buffer)
}

/// Copies `parts` end to end to `data`.
///
/// # Safety
/// `data` points at least at the parts' total length of writable bytes.
unsafe fn fill(data: *mut std::ffi::c_void, parts: &[&[u8]]) {
    let mut at = data.cast::<u8>();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        // SAFETY: the caller's promise: room for every part.
        unsafe {
            ptr::copy_nonoverlapping(p.as_ptr(), at, p.len());
            at = at.add(p.len());
        }
    }
}

/// `f64`s that become a `Float64Array` in V8's memory.
pub struct InV8(pub Vec<f64>);

impl ToNapiValue for InV8 {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let bytes = bytes_of(&val.0);
        let (mut array, mut data) = (ptr::null_mut(), ptr::null_mut());
        check_status!(unsafe {
            sys::napi_create_arraybuffer(env, bytes.len(), &mut data, &mut array)
        })?;
        // SAFETY: `data` points at `bytes.len()` fresh bytes V8 allocated above.
        unsafe { fill(data, &[bytes]) };
        let mut out = ptr::null_mut();
        let kind = sys::TypedarrayType::float64_array;
        check_status!(unsafe {
            sys::napi_create_typedarray(env, kind, val.0.len(), array, 0, &mut out)
        })?;
        Ok(out)
    }
}

impl TypeName for InV8 {
    fn type_name() -> &'static str {
        "Float64Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}
