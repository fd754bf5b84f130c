//! Named points where a test makes the process die as `kill -9` would
//! (`CALDO_CRASH_AT=<name>`), to check what a crash there leaves on disk.

use std::sync::OnceLock;

pub(crate) fn crash_point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT
        .get_or_init(|| std::env::var("CALDO_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}
