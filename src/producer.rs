//! `NativeProducer`: the core's producer (idempotent, or transactional with
//! a transactional id); one native call per batch of sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use caldo_core::options::int;
use caldo_core::{Code, Error, FailAt, Producer, DEFAULT_TXN_TIMEOUT};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::consumer::NativeConsumer;
use crate::error::{blocking, guard, Outcome};
use crate::log::NativeLog;
use crate::v8_memory::InV8;
use crate::wire::decode_append;

#[napi(object)]
pub struct ProducerOptions {
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: Option<f64>,
}

/// `None` once closed.
type Shared = Arc<Mutex<Option<Producer>>>;

#[napi]
pub struct NativeProducer {
    inner: Shared,
}

/// A producer of `log`: transactional when given a transactional id (which
/// fences the id's older producers and ends what they left open).
#[napi]
pub fn create_producer(log: &NativeLog, opts: ProducerOptions) -> Outcome<NativeProducer> {
    guard(|| {
        let log = log.inner.clone();
        let producer = match opts.transactional_id {
            Some(id) => {
                let timeout = match opts.transaction_timeout_ms {
                    Some(ms) => {
                        Duration::from_millis(int("transactionTimeoutMs", ms, 0, u32::MAX.into())?)
                    }
                    None => DEFAULT_TXN_TIMEOUT,
                };
                Producer::transactional(log, &id, timeout)?
            }
            None => Producer::idempotent(log)?,
        };
        Ok(NativeProducer {
            inner: Arc::new(Mutex::new(Some(producer))),
        })
    })
}

/// Runs `f` on the producer, unless it was closed.
fn with<T>(
    inner: &Shared,
    f: impl FnOnce(&mut Producer) -> caldo_core::Result<T>,
) -> caldo_core::Result<T> {
    let mut p = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match p.as_mut() {
        Some(p) => f(p),
        None => Err(Error::new(
            Code::Closed,
            "the producer is closed; create another with log.producer()",
        )),
    }
}

fn append(
    p: &mut Producer,
    topic: &str,
    data: &[u8],
    meta: &[i32],
    timestamps: &[f64],
    round_robin: u32,
) -> caldo_core::Result<Vec<(u32, u64)>> {
    let mut headers = Vec::new();
    let records = decode_append(data, meta, timestamps, &mut headers)?;
    p.send(topic, &records, round_robin)
}

/// [partition, offset] per record, flat.
fn flat(placed: &[(u32, u64)]) -> impl Iterator<Item = f64> + '_ {
    placed.iter().flat_map(|&(p, o)| [f64::from(p), o as f64])
}

#[napi]
impl NativeProducer {
    /// Appends a batch laid out as `wire.rs` says; resolves to
    /// [partition, offset] per record.
    #[napi]
    pub fn append<'env>(
        &self,
        env: &'env Env,
        topic: String,
        data: Buffer,
        meta: Int32Array,
        timestamps: Float64Array,
        round_robin: u32,
    ) -> Result<PromiseRaw<'env, Outcome<InV8>>> {
        let inner = self.inner.clone();
        blocking(env, move || {
            with(&inner, |p| {
                let placed = append(p, &topic, &data, &meta, &timestamps, round_robin)?;
                Ok(InV8(flat(&placed).collect()))
            })
        })
    }

    /// `append` on the calling thread: for small batches without fsync, where
    /// a hop to a worker thread costs more than the write. Writes
    /// [partition, offset] per record into `placed` (2 per record), which
    /// the caller keeps: no allocation for V8 to make and collect per call.
    #[napi]
    pub fn append_now(
        &self,
        topic: String,
        data: &[u8],
        meta: &[i32],
        timestamps: &[f64],
        round_robin: u32,
        mut placed: Float64ArraySlice,
    ) -> Outcome<()> {
        guard(|| {
            if placed.len() < timestamps.len() * 2 {
                return Err(Error::new(
                    Code::InvalidArg,
                    "appendNow needs room for 2 numbers per record in placed",
                ));
            }
            let done = with(&self.inner, |p| {
                append(p, &topic, data, meta, timestamps, round_robin)
            })?;
            // SAFETY: JS runs on this thread only, and waits for this call.
            let placed = unsafe { placed.as_mut() };
            for (to, x) in placed.iter_mut().zip(flat(&done)) {
                *to = x;
            }
            Ok(())
        })
    }

    #[napi]
    pub fn begin(&self) -> Outcome<()> {
        guard(|| with(&self.inner, Producer::begin))
    }

    /// Commits (`commit`) or aborts the open transaction: markers, and their
    /// fsync with 'always' durability.
    #[napi]
    pub fn end<'env>(&self, env: &'env Env, commit: bool) -> Result<PromiseRaw<'env, Outcome<()>>> {
        let inner = self.inner.clone();
        blocking(env, move || with(&inner, |p| p.end(commit)))
    }

    /// Sends `consumer`'s positions (what it handed out) in the open
    /// transaction; `handed`/`inHand` report its progress first.
    #[napi]
    pub fn send_offsets(
        &self,
        consumer: &mut NativeConsumer,
        handed: u32,
        in_hand: u32,
    ) -> Outcome<()> {
        guard(|| {
            let (group, offsets) = consumer.txn_offsets(handed, in_hand)?;
            with(&self.inner, |p| p.send_offsets(&group, &offsets))
        })
    }

    /// Lets go of the producer (and, for a transactional one, its owner lock).
    #[napi]
    pub fn close(&self) -> Outcome<()> {
        guard(|| {
            self.inner
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            Ok(())
        })
    }
}

/// Tests only: the next `n` appends to the partition of the log in `dir`
/// fail after their write and before their acknowledgement, as a failed
/// fsync would.
#[napi(js_name = "__failAppendsForTests")]
pub fn fail_appends_for_tests(dir: String, topic: String, partition: u32, n: u32) {
    let dir = std::path::Path::new(&dir);
    caldo_core::fail_appends_for_tests(dir, &topic, partition, FailAt::Published, n);
}
