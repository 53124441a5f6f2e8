//! The naive strategy, as in the seed: the app hands every file to the background session
//! at once, in the foreground, and otherwise only reacts to delegate callbacks: a success
//! marks the file done, any failure hands the file to the OS again (up to
//! `naive.max_retries` times). It does not reconcile with `getAllTasks`, and sends no
//! idempotency key, as the seed's app does not.
//!
//! What it must never do: look at the server; it knows only what the OS tells it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinHandle;

use super::files::SourceFile;
use super::{SimApp, World};
use crate::sim::{OsSession, SessionEvent, TaskOutcome, TaskRequest};

struct Shared {
    session: Arc<dyn OsSession>,
    requests: Vec<TaskRequest>,
    max_retries: u64,
    book: Mutex<Book>,
    /// Completions the app has handled, to tell when it caught up with the OS.
    handled: AtomicU64,
}

#[derive(Default)]
struct Book {
    done: HashSet<usize>,
    retries: HashMap<usize, u64>,
    gave_up: HashSet<usize>,
}

pub struct NaiveApp {
    shared: Arc<Shared>,
    pump: Option<JoinHandle<()>>,
    handed_over: bool,
}

impl NaiveApp {
    pub fn new(world: &World, max_retries: u64) -> Self {
        let requests = world
            .files
            .iter()
            .enumerate()
            .map(|(index, file)| request(world, index, file))
            .collect();
        Self {
            shared: Arc::new(Shared {
                session: world.session.clone(),
                requests,
                max_retries,
                book: Mutex::default(),
                handled: AtomicU64::new(0),
            }),
            pump: None,
            handed_over: false,
        }
    }
}

fn request(world: &World, index: usize, file: &SourceFile) -> TaskRequest {
    TaskRequest {
        description: index.to_string(),
        url: format!("{}{}", world.base_url(), &file.url_path[1..]),
        method: "PUT".into(),
        headers: Vec::new(),
        body_path: file.path.clone(),
        download_to: None,
    }
}

impl Shared {
    fn hand_over(&self, index: usize) {
        if let Some(request) = self.requests.get(index)
            && self.session.create_task(request.clone()).is_err()
        {
            self.book().gave_up.insert(index);
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn on_event(&self, event: SessionEvent) {
        let SessionEvent::Completed {
            description,
            outcome,
            ..
        } = event
        else {
            return;
        };
        self.handled.fetch_add(1, Ordering::SeqCst);
        let Ok(index) = description.parse::<usize>() else {
            return;
        };
        let succeeded =
            matches!(outcome, TaskOutcome::Response { status, .. } if (200..300).contains(&status));
        let mut book = self.book();
        if succeeded {
            book.done.insert(index);
            return;
        }
        let tries = book.retries.entry(index).or_default();
        if *tries >= self.max_retries {
            book.gave_up.insert(index);
            return;
        }
        *tries += 1;
        drop(book);
        self.hand_over(index);
    }
}

impl SimApp for NaiveApp {
    async fn launch(&mut self, _world: &World, _foreground: bool) -> Result<(), String> {
        let mut events = self.shared.session.connect();
        let shared = Arc::clone(&self.shared);
        self.pump = Some(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                shared.on_event(event);
            }
        }));
        if !self.handed_over {
            self.handed_over = true;
            for index in 0..self.shared.requests.len() {
                self.shared.hand_over(index);
            }
        }
        Ok(())
    }

    async fn set_foreground(&mut self, _foreground: bool) -> Result<(), String> {
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), String> {
        if let Some(pump) = self.pump.take() {
            // The session dropped its delegate; the pump ends after what was sent.
            let _ = pump.await;
        }
        Ok(())
    }

    fn running(&self) -> bool {
        self.pump.is_some()
    }

    fn finished(&self, _completed: u64, _total: u64) -> bool {
        let session = &self.shared.session;
        self.running()
            && session.outstanding() == 0
            && session.pending_events() == 0
            && self.shared.handled.load(Ordering::SeqCst) == session.stats().delivered
    }

    fn abandoned(&self, world: &World) -> HashSet<String> {
        let book = self.shared.book();
        let tracked: HashSet<String> = self
            .shared
            .session
            .all_tasks()
            .into_iter()
            .map(|(_, description)| description)
            .chain(self.shared.session.pending_descriptions())
            .collect();
        world
            .files
            .iter()
            .enumerate()
            .filter(|(index, _)| {
                book.gave_up.contains(index)
                    || (!book.done.contains(index) && !tracked.contains(&index.to_string()))
            })
            .map(|(_, file)| file.url_path.clone())
            .collect()
    }
}
