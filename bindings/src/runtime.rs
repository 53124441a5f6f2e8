//! The tokio runtime this library owns.
//!
//! UniFFI drives a Rust future from the foreign side (Swift's executor, a Kotlin
//! coroutine). Ferry's futures need tokio (timers, sockets, the actor), so every exported
//! async method hands its work to this runtime and awaits the join handle, which any
//! executor can poll. The caller's thread only waits; it never runs Ferry's work. A panic
//! in the work becomes [`FerryError::Internal`].

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::Runtime;

use crate::FerryError;

/// One worker: everything of Ferry's that blocks (the actor's commits, reads of large
/// sources, the OS lane's and the authorizer's calls into the app) runs on tokio's blocking
/// pool, so the worker only moves bytes and wakes tasks. A second worker mostly adds
/// cross-thread wake-ups (`many_small_puts`: one worker ~4–8% faster than two, in five
/// interleaved comparisons).
const WORKERS: usize = 1;

static RUNTIME: LazyLock<Result<Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("ferry")
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
});

/// Runs `work` on Ferry's runtime and waits for it from any executor.
pub(crate) async fn run<T, F>(work: F) -> Result<T, FerryError>
where
    F: Future<Output = Result<T, FerryError>> + Send + 'static,
    T: Send + 'static,
{
    let runtime = RUNTIME.as_ref().map_err(|reason| FerryError::Internal {
        description: format!("Ferry's runtime could not start: {reason}"),
    })?;
    match runtime.spawn(work).await {
        Ok(result) => result,
        Err(join_error) if join_error.is_panic() => Err(FerryError::Internal {
            description: "a bug in Ferry interrupted this call (it panicked); the queue's stored \
                      state is intact"
                .into(),
        }),
        Err(_) => Err(FerryError::Internal {
            description: "the call was cancelled because Ferry's runtime is shutting down".into(),
        }),
    }
}

/// Spawns a background task on Ferry's runtime.
pub(crate) fn spawn<F>(work: F) -> Option<tokio::task::JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    RUNTIME.as_ref().ok().map(|runtime| runtime.spawn(work))
}
