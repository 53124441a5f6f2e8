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

static RUNTIME: LazyLock<Result<Runtime, String>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
        message: format!("Ferry's runtime could not start: {reason}"),
    })?;
    match runtime.spawn(work).await {
        Ok(result) => result,
        Err(join_error) if join_error.is_panic() => Err(FerryError::Internal {
            message: "a bug in Ferry interrupted this call (it panicked); the queue's stored \
                      state is intact"
                .into(),
        }),
        Err(_) => Err(FerryError::Internal {
            message: "the call was cancelled because Ferry's runtime is shutting down".into(),
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
