//! The server's shared handles and its routes.
//!
//! What it is for: bundling what every handler needs (the record of what was
//! seen, the fault injector, the store directory, the files served for downloads) and
//! wiring the routes: the control API under `/_testkit/`, files under `/_files/`,
//! everything else to the upload handler.
//!
//! What it must never do: handle a request itself or hold a lock across an
//! await; it only hands out the shared pieces.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::auth::{AuthPolicy, Authenticator};
use crate::config::ResumableServerConfig;
use crate::faults::FaultPlan;
use crate::files::{self, ServedFiles};
use crate::injector::{Decision, Injector};
use crate::resumable::uploads::Uploads;
use crate::state::State;
use crate::uplink::Uplink;
use crate::{control, resumable, upload};

/// Everything a handler shares with the others.
#[derive(Clone, Debug)]
pub struct App {
    pub state: Arc<State>,
    injector: Arc<Mutex<Injector>>,
    pub store_dir: Option<Arc<PathBuf>>,
    /// Batch parts received since the plan was installed.
    batch_parts: Arc<std::sync::atomic::AtomicU64>,
    pub auth: Arc<Authenticator>,
    pub resumable: Arc<ResumableServerConfig>,
    pub uploads: Arc<Uploads>,
    /// The modelled link every request body crosses, if the server has one.
    pub uplink: Option<Arc<Uplink>>,
    /// Files served for downloads (`/_files/NAME`).
    pub files: Arc<ServedFiles>,
}

impl App {
    pub fn new(
        plan: FaultPlan,
        store_dir: Option<PathBuf>,
        auth: AuthPolicy,
        resumable: ResumableServerConfig,
        uplink: Option<Arc<Uplink>>,
    ) -> Self {
        App {
            auth: Arc::new(Authenticator::new(auth)),
            state: Arc::default(),
            injector: Arc::new(Mutex::new(Injector::new(plan))),
            store_dir: store_dir.map(Arc::new),
            batch_parts: Arc::default(),
            resumable: Arc::new(resumable),
            uploads: Arc::default(),
            uplink,
            files: Arc::default(),
        }
    }

    /// Numbers the next batch part; whether the plan fails it.
    pub fn next_batch_part_fails(&self) -> bool {
        let every = self.injector().plan().batch_part_failure_every;
        let number = self
            .batch_parts
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        every > 0 && number.is_multiple_of(every)
    }

    fn injector(&self) -> MutexGuard<'_, Injector> {
        self.injector.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers the next upload request and decides its faults.
    pub fn decide(&self, path: &str) -> Decision {
        self.injector().decide(path)
    }

    /// Installs a plan (already validated); numbering and draws start over.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.injector() = Injector::new(plan);
        self.batch_parts
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.uploads.rearm_cuts();
    }

    pub fn plan(&self) -> FaultPlan {
        self.injector().plan().clone()
    }

    /// Forgets everything recorded and restarts the plan's numbering.
    pub fn reset(&self) {
        let plan = self.plan();
        self.set_plan(plan);
        self.state.reset();
        self.auth.reset();
        self.uploads.clear();
    }
}

/// The whole server's routes.
pub fn router(app: App) -> Router {
    Router::new()
        .nest("/_testkit", control::routes())
        .route("/_uploads/{id}", axum::routing::any(resumable::resource))
        .route("/_files/{*name}", axum::routing::get(files::serve))
        .fallback(upload::handle)
        // Bodies may be 1 GiB; they are streamed, never buffered.
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}
