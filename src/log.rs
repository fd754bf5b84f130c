//! `NativeLog`: a log directory opened by this process: wake-ups, flush
//! and close. Its topic and group calls are in `topics.rs` and `groups.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use caldo_core::options::{clean_interval, flush_interval};
use caldo_core::{Durability, Log};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{blocking, guard, Outcome};
use crate::wait::Waits;

#[napi(object)]
pub struct OpenOptions {
    pub durability: Option<String>,
    pub flush_interval_ms: Option<f64>,
    /// How often the cleaner runs (ms); 0: only by hand.
    pub clean_interval_ms: Option<f64>,
}

#[napi]
pub struct NativeLog {
    pub(crate) inner: Arc<Log>,
    waits: Waits,
}

/// Opens (creating if needed) the log in `dir`.
#[napi]
pub fn open_log(dir: String, opts: OpenOptions) -> Outcome<NativeLog> {
    guard(|| {
        let durability = Durability::parse(opts.durability.as_deref().unwrap_or("interval"))?;
        let interval = flush_interval(opts.flush_interval_ms.unwrap_or(1000.0))?;
        let clean = match opts.clean_interval_ms {
            Some(ms) => clean_interval(ms)?,
            None => Some(caldo_core::CLEAN_INTERVAL),
        };
        let log = Log::open_with(Path::new(&dir), durability, interval, clean)?;
        Ok(NativeLog {
            inner: Arc::new(log),
            waits: Waits::default(),
        })
    })
}

#[napi]
impl NativeLog {
    #[napi]
    pub fn wake_seq(&self) -> Outcome<u32> {
        guard(|| Ok(self.inner.wake_seq()))
    }

    /// Resolves when any process appends after `seen` was read, or after
    /// `timeoutMs`, to whether one did (see `wait.rs` for how it sleeps).
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn wait<'env>(
        &mut self,
        env: &'env Env,
        seen: u32,
        timeout_ms: u32,
    ) -> Result<Unknown<'env>> {
        let timeout = Duration::from_millis(timeout_ms.into());
        let promise = self.waits.wait(env, &self.inner, seen, timeout)?;
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), promise) })
    }

    /// Wakes every waiter of this log, in every process.
    #[napi]
    pub fn interrupt(&self) -> Outcome<()> {
        guard(|| {
            self.inner.interrupt();
            Ok(())
        })
    }

    #[napi]
    pub fn flush<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Outcome<()>>> {
        let log = self.inner.clone();
        blocking(env, move || log.flush())
    }

    /// Settles pending waits (as not moved), then closes the log.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&mut self, env: &'env Env) -> Result<PromiseRaw<'env, Outcome<()>>> {
        self.waits.end(env)?;
        let log = self.inner.clone();
        blocking(env, move || log.close())
    }
}
