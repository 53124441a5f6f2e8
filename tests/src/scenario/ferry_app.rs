//! The Ferry strategy: the app opens a real [`TransferQueue`] with the simulated session
//! behind an [`OsShim`] as its platform service, enqueues every file once, tells the
//! queue whether it is in the foreground, and shuts the queue down when the OS stops the
//! app. At every launch a new shim reconnects to the session first (queued callbacks are
//! buffered), then the queue opens and reconciles, then the buffered callbacks replay.
//!
//! Downloading (`FerryApp::downloading`, the `ferry-download` strategy) it enqueues one
//! download per file instead, with its expected size and SHA-256, into the world's
//! download folder, and counts the files whose `Succeeded` it heard.
//!
//! What it must never do: look at the server, or keep the queue open while the app does
//! not run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry::{
    AppState, BatchEndpoint, Download, HttpVersionPolicy, Integrations, QueueConfig, TransferEvent,
    TransferId, TransferQueue, Upload,
};
use tokio::task::JoinHandle;

use super::os_shim::OsShim;
use super::params::ScenarioParams;
use super::{SimApp, World};

pub struct FerryApp {
    config: QueueConfig,
    uploads: Vec<Upload>,
    downloads: Vec<Download>,
    ids: Arc<Mutex<HashMap<TransferId, String>>>,
    gave_up: Arc<Mutex<HashSet<String>>>,
    /// Downloading: the files whose `Succeeded` was heard (durable before it is told).
    succeeded: Option<Arc<Mutex<HashSet<TransferId>>>>,
    running: Option<Running>,
}

struct Running {
    queue: TransferQueue,
    shim: Arc<OsShim>,
    pump: JoinHandle<()>,
    watcher: JoinHandle<()>,
}

impl FerryApp {
    pub fn new(world: &World, params: &ScenarioParams) -> Self {
        let mut config = QueueConfig::new(world.dir().join("ferry.db"));
        config.limits.per_host = usize::try_from(params.ferry_per_host).unwrap_or(4);
        config.limits.global = usize::try_from(params.ferry_global).unwrap_or(8);
        config.stall_timeout = params.ferry_stall_timeout;
        config.http_version = if params.http2 {
            HttpVersionPolicy::Http2PriorKnowledge
        } else {
            HttpVersionPolicy::Http1Only
        };
        config.platform.max_platform_tasks =
            usize::try_from(params.ferry_max_platform_tasks).unwrap_or(6);
        config.platform.large_file_threshold = params.scaled(params.ferry_large_file_threshold);
        config.platform.platform_stall_timeout = params.ferry_platform_stall_timeout;
        config.platform.refill_when_drained = params.ferry_refill_when_drained;
        // An app whose manifest and OS allow user-initiated jobs (Android 14+ with
        // RUN_USER_INITIATED_JOBS) lets Ferry keep it running while work is queued.
        config.platform.keep_app_running = params.android.job_kind == "user_initiated";
        if params.ferry_batch_max_files > 0 {
            // The testkit server takes a `Ferry-Batch` POST on any path.
            let mut batch =
                BatchEndpoint::new(world.base_url(), format!("{}_batch", world.base_url()));
            batch.max_files = usize::try_from(params.ferry_batch_max_files).unwrap_or(32);
            batch.max_bytes = params.scaled(params.ferry_batch_max_bytes);
            config.batching = vec![batch];
        }
        let uploads = world
            .files
            .iter()
            .map(|file| {
                Upload::put(
                    &file.path,
                    format!("{}{}", world.base_url(), &file.url_path[1..]),
                )
            })
            .collect();
        Self {
            config,
            uploads,
            downloads: Vec::new(),
            ids: Arc::default(),
            gave_up: Arc::default(),
            succeeded: None,
            running: None,
        }
    }

    /// The same app downloading the world's files (served by its server) into its
    /// download folder, each with its expected size and SHA-256.
    pub fn downloading(world: &World, params: &ScenarioParams) -> Self {
        let mut app = Self::new(world, params);
        app.uploads = Vec::new();
        app.config.platform.download_segment_bytes =
            params.scaled(params.ferry_download_segment_bytes);
        // A shim that carries download handoffs (the scenario's, `os_shim.rs`).
        app.config.platform.downloads_to_os = true;
        app.downloads = world
            .files
            .iter()
            .map(|file| {
                Download::new(
                    world.server.file_url(&file.url_path[1..]),
                    world.download_path(&file.url_path),
                )
                .with_expected_size(file.len)
                .with_sha256(file.sha256_hex.clone())
            })
            .collect();
        app.succeeded = Some(Arc::default());
        app
    }

    async fn enqueue_once(&mut self, queue: &TransferQueue, world: &World) -> Result<(), String> {
        if self.uploads.is_empty() && self.downloads.is_empty() {
            return Ok(());
        }
        let uploads = std::mem::take(&mut self.uploads);
        let downloads = std::mem::take(&mut self.downloads);
        let results = if downloads.is_empty() {
            queue.enqueue_many(uploads).await
        } else {
            queue.enqueue_downloads(downloads).await
        }
        .map_err(|e| format!("enqueue: {e}"))?;
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        for (result, file) in results.into_iter().zip(&world.files) {
            match result {
                Ok(id) => {
                    ids.insert(id, file.url_path.clone());
                }
                Err(_) => {
                    self.gave_up
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(file.url_path.clone());
                }
            }
        }
        Ok(())
    }
}

impl SimApp for FerryApp {
    async fn launch(&mut self, world: &World, foreground: bool) -> Result<(), String> {
        let shim = Arc::new(OsShim::new(world.session.clone()));
        let mut events = world.session.connect();
        while let Ok(event) = events.try_recv() {
            shim.on_event(event);
        }
        let integrations = Integrations {
            platform: Some(Arc::clone(&shim) as Arc<dyn ferry::PlatformTransferService>),
            ..Integrations::default()
        };
        // The app knows its state as it opens the queue (UIApplication.applicationState,
        // ProcessLifecycleOwner): it passes it, so no decision is made without it.
        let mut config = self.config.clone();
        config.app_state = if foreground {
            AppState::Foreground
        } else {
            AppState::Background
        };
        let queue = TransferQueue::open_with(config, integrations)
            .await
            .map_err(|e| format!("opening the queue: {e}"))?;
        let mut subscription = queue.subscribe();
        let ids = Arc::clone(&self.ids);
        let gave_up = Arc::clone(&self.gave_up);
        let succeeded = self.succeeded.clone();
        let watcher = tokio::spawn(async move {
            while let Some(event) = subscription.next().await {
                if let (TransferEvent::Succeeded { id, .. }, Some(succeeded)) = (&event, &succeeded)
                {
                    succeeded
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id.clone());
                }
                if let TransferEvent::Failed { id, .. } | TransferEvent::Cancelled { id } = event
                    && let Some(path) = ids.lock().unwrap_or_else(PoisonError::into_inner).get(&id)
                {
                    gave_up
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(path.clone());
                }
            }
        });
        shim.attach(queue.clone());
        let pump_shim = Arc::clone(&shim);
        let pump = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                pump_shim.on_event(event);
            }
        });
        self.enqueue_once(&queue, world).await?;
        self.running = Some(Running {
            queue,
            shim,
            pump,
            watcher,
        });
        Ok(())
    }

    async fn set_foreground(&mut self, foreground: bool) -> Result<(), String> {
        if let Some(running) = &self.running {
            let state = if foreground {
                AppState::Foreground
            } else {
                AppState::Background
            };
            running
                .queue
                .set_app_state(state)
                .await
                .map_err(|e| format!("set_app_state: {e}"))?;
        }
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), String> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        // The session dropped its delegate: forward what it sent before, then close.
        let _ = running.pump.await;
        running.shim.detach();
        running
            .queue
            .shutdown()
            .await
            .map_err(|e| format!("shutdown: {e}"))?;
        let _ = tokio::time::timeout(Duration::from_secs(5), running.watcher).await;
        Ok(())
    }

    fn running(&self) -> bool {
        self.running.is_some()
    }

    fn finished(&self, completed: u64, total: u64) -> bool {
        let gave_up = self.gave_up.lock().unwrap_or_else(PoisonError::into_inner);
        !gave_up.is_empty() && completed + gave_up.len() as u64 >= total
    }

    fn arrived(&self, world: &World) -> u64 {
        match &self.succeeded {
            Some(succeeded) => succeeded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len() as u64,
            None => world.server.stats().bodies_stored,
        }
    }

    fn abandoned(&self, _world: &World) -> HashSet<String> {
        self.gave_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
