//! What a simulated OS offers an app, whichever OS it is: upload tasks from files, their
//! callbacks, `getAllTasks`, and the app's life as the user and the OS move it. The iOS
//! and Android simulators implement [`OsSession`]; the scenario's apps and Ferry's shim
//! use only this.
//!
//! What it must never do: hold behaviour; these are the shared words.

use std::time::Duration;

use tokio::sync::mpsc;

/// What the app asks for: an upload task from a file, or a download task.
#[derive(Clone, Debug)]
pub struct TaskRequest {
    /// `taskDescription`: the app's own correlation key, kept across relaunches.
    pub description: String,
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body_path: std::path::PathBuf,
    /// A download task (iOS `downloadTask(with:)`, an Android worker that fetches): the
    /// request has no body, and the OS's downloaded file is moved here before the
    /// completion is delivered (what an iOS shim does before its delegate returns).
    pub download_to: Option<std::path::PathBuf>,
}

impl TaskRequest {
    /// The body's length: the file's for an upload (rule 6: background sessions upload
    /// from a file only), 0 for a download task, which has no body.
    ///
    /// # Errors
    ///
    /// [`CreateError::BodyNotAFile`] when an upload's body is not a readable file.
    pub fn body_len(&self) -> Result<u64, CreateError> {
        if self.download_to.is_some() {
            return Ok(0);
        }
        std::fs::metadata(&self.body_path)
            .ok()
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
            .ok_or_else(|| CreateError::BodyNotAFile(self.body_path.display().to_string()))
    }
}

/// A delegate callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    Progress {
        task: u64,
        description: String,
        sent: u64,
        total: u64,
    },
    Completed {
        task: u64,
        description: String,
        outcome: TaskOutcome,
    },
    /// `urlSessionDidFinishEvents`: every queued event was delivered.
    FinishedEvents,
}

/// `didCompleteWithError`, or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
    },
    Error {
        error: TaskError,
        message: String,
    },
}

/// The `NSURLError`s the model produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskError {
    /// -999, cancelled by the app.
    Cancelled,
    /// -999 with `NSURLErrorCancelledReasonUserForceQuitApplication` (rule 8).
    CancelledUserForceQuit,
    /// -1017 (rule 4's optional fault).
    CannotParseResponse,
    /// -1001 after `resource_timeout` (rule 7).
    TimedOut,
    /// The body file is missing or changed (rule 6).
    FileChanged,
    /// The connection failed.
    Network,
    /// Failed in bulk above `n_meltdown` outstanding tasks (rule 5).
    TooManyTasks,
    /// Android stopped the work for good (a foreground service's `onTimeout`, rule 14;
    /// expedited work dropped out of quota, rule 13).
    StoppedBySystem,
    /// The user pressed Stop on a user-initiated job (rule 15): not rescheduled.
    StoppedByUser,
}

/// The OS acting on the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsWake {
    /// The app was relaunched (or resumed) in the background because events are pending.
    RelaunchedInBackground,
}

/// Creating a task failed at once.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CreateError {
    /// Rule 6: background sessions upload from a file only.
    #[error("background sessions upload from files only, and {0} is not a readable file")]
    BodyNotAFile(String),
    /// Rule 16: JobScheduler refuses more than its cap of scheduled jobs per app.
    #[error("the app may not schedule more than {0} jobs")]
    TooManyJobs(u64),
    /// Rule 15: a user-initiated job must be scheduled while the app is visible.
    #[error("a user-initiated job must be scheduled while the app is visible")]
    NotVisible,
    /// The app may not keep itself running: an OS without such jobs (iOS), or an app whose
    /// manifest and OS version allow no user-initiated job (`android.job_kind`).
    #[error("this app cannot be kept running in the background")]
    NoKeepAlive,
}

/// Whether the app runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppPhase {
    Foreground,
    Background,
    /// Suspended or killed by the system: events queue, a relaunch follows.
    NotRunning,
    /// Force-quit by the user: no relaunch until the user opens the app.
    ForceQuit,
}

/// What the session did, for the scenario's report and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub tasks_created: u64,
    pub max_outstanding: u64,
    pub max_in_flight: u64,
    pub relaunches: u64,
    pub stalls: u64,
    pub daemon_retries: u64,
    pub melted: u64,
    pub vanished: u64,
    pub force_quits: u64,
    /// Android: jobs stopped by the worker budget, quotas or Doze, and rescheduled.
    pub jobs_stopped: u64,
    /// Android: schedule calls refused (job cap, visibility).
    pub refused: u64,
    /// Android: user-initiated jobs granted to keep the app running (`keep_app_running`).
    pub keep_alives: u64,
    /// Completions handed to the app's delegate channel.
    pub delivered: u64,
    /// iOS: download tasks the daemon resumed with its resume data, and of those, how
    /// many resumes failed (the data rejected or expired: the task started over).
    pub resumes: u64,
    pub resumes_failed: u64,
}

/// A simulated OS's background-transfer service for one app.
pub trait OsSession: Send + Sync {
    /// Creates and starts an upload task (iOS `uploadTask(fromFile:)` + `resume()`,
    /// Android: schedules a job). Returns the task identifier.
    fn create_task(&self, request: TaskRequest) -> Result<u64, CreateError>;
    /// Cancels a task; its completion (if the OS reports one) says so.
    fn cancel(&self, task: u64);
    /// Every unfinished task with its description (iOS `getAllTasks`).
    fn all_tasks(&self) -> Vec<(u64, String)>;
    /// The app (re)connects: queued callbacks first, later ones as they happen.
    fn connect(&self) -> mpsc::UnboundedReceiver<SessionEvent>;
    fn to_foreground(&self);
    fn to_background(&self);
    /// The system suspends or kills the app: tasks go on, callbacks queue.
    fn app_stopped(&self);
    /// The user force-quits (iOS) or force-stops (Android) the app.
    fn force_quit(&self);
    fn phase(&self) -> AppPhase;
    fn stats(&self) -> SessionStats;
    fn outstanding(&self) -> usize;
    /// Callbacks queued for an app that does not run.
    fn pending_events(&self) -> usize;
    /// Descriptions of tasks whose completion is queued for the app.
    fn pending_descriptions(&self) -> Vec<String>;
    /// How long the app runs after going to the background or a relaunch.
    fn background_runtime(&self) -> Duration;

    /// Keeps the app running in the background until [`Self::let_app_stop`] (Android rule
    /// 15: one user-initiated job, whose process runs the app's own transfers). Refused
    /// where the OS has no such thing (the default, iOS).
    fn keep_app_running(&self) -> Result<(), CreateError> {
        Err(CreateError::NoKeepAlive)
    }
    /// Ends what `keep_app_running` granted.
    fn let_app_stop(&self) {}
    /// Whether the app is kept running now.
    fn keeps_app_running(&self) -> bool {
        false
    }

    /// Cancels every task with this description.
    fn cancel_described(&self, description: &str) {
        for (id, _) in self
            .all_tasks()
            .into_iter()
            .filter(|(_, d)| d == description)
        {
            self.cancel(id);
        }
    }
}
