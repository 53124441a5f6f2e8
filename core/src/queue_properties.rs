//! Property test of the queue's bookkeeping: random sequences of enqueues, starts, attempt
//! outcomes, the app's commands, crashes and reopenings, applied as the actor applies
//! them (one transaction per turn, `state::transition`, the store's writers, the requeue
//! at open), checked after every step against a model of the queue.
//!
//! Invariants: no transfer is lost or duplicated (the store holds exactly the model's
//! transfers, and an enqueue never adds a second unfinished transfer of an upload); a
//! succeeded or cancelled transfer never changes again, and a failed one only through
//! `retry`; the attempts stored are the verdicts since the last `retry`, plus one while an
//! attempt runs (an interrupted or stopped attempt does not count); the totals table
//! matches the rows, also after a crash and a reopen.
//!
//! What it must never do: run long (a bounded number of cases and steps, in a temporary
//! directory), or read the clock: every time stored is 0.

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use rusqlite::Connection;

use crate::TransferId;
use crate::state::{Effect, Input, Lane, StateKind, transition};
use crate::store::{self, EnqueueWriter, Identity, Store, TotalsDelta};
use crate::upload::{SourceSnapshot, Upload, ValidatedUpload};

/// Distinct uploads (source and destination) the steps pick from.
const UPLOADS: usize = 3;

#[derive(Clone, Debug)]
enum Outcome {
    Succeeded,
    Retryable,
    Permanent,
    Auth,
}

#[derive(Clone, Debug)]
enum Step {
    /// The app enqueues upload `upload`; `changed`: its source changed since the last time.
    Enqueue { upload: usize, changed: bool },
    /// The scheduler starts the `pick`-th transfer, if it is queued.
    Start { pick: usize },
    /// The attempt of the `pick`-th transfer, if it runs, ends with `outcome`.
    Finish { pick: usize, outcome: Outcome },
    /// The app pauses, resumes, cancels or retries the `pick`-th transfer.
    Command { pick: usize, input: usize },
    /// The process dies in the middle of a turn that had applied `lost` steps: they were
    /// never committed. The queue is opened again.
    Crash { lost: Vec<Step> },
    /// The queue shuts down (running attempts are interrupted) and is opened again.
    Reopen,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Succeeded),
        Just(Outcome::Retryable),
        Just(Outcome::Permanent),
        Just(Outcome::Auth),
    ]
}

fn turn_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0..UPLOADS, any::<bool>()).prop_map(|(upload, changed)| Step::Enqueue { upload, changed }),
        3 => any::<usize>().prop_map(|pick| Step::Start { pick }),
        3 => (any::<usize>(), outcome()).prop_map(|(pick, outcome)| Step::Finish { pick, outcome }),
        2 => (any::<usize>(), 0..COMMANDS.len()).prop_map(|(pick, input)| Step::Command { pick, input }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => turn_step(),
        1 => prop::collection::vec(turn_step(), 1..4).prop_map(|lost| Step::Crash { lost }),
        1 => Just(Step::Reopen),
    ]
}

const COMMANDS: [Input; 4] = [Input::Pause, Input::Resume, Input::Cancel, Input::Retry];

/// What the model knows of one transfer.
#[derive(Clone, Debug)]
struct Modelled {
    id: TransferId,
    upload: usize,
    size: u64,
    mtime_ns: i64,
    state: StateKind,
    /// Verdicts (outcomes classified) since the transfer was enqueued or last retried.
    verdicts: u32,
}

/// The model of the queue, and the upload sources' current modification times.
#[derive(Clone, Debug, Default)]
struct Model {
    transfers: Vec<Modelled>,
    mtimes: [i64; UPLOADS],
}

fn upload_of(index: usize, mtime_ns: i64) -> ValidatedUpload {
    ValidatedUpload {
        upload: Upload::put(format!("/src/{index}"), format!("http://h/{index}")),
        host: "h:80".into(),
        snapshot: SourceSnapshot {
            size: 100 + index as u64,
            mtime_ns,
        },
    }
}

/// Applies one step of a turn to the store (inside `tx`) and to `model`, as the actor
/// does: illegal commands change nothing.
fn apply(tx: &Connection, model: &mut Model, step: &Step, totals: &mut TotalsDelta) {
    match step {
        Step::Enqueue { upload, changed } => {
            if *changed {
                model.mtimes[*upload] += 1;
            }
            let validated = upload_of(*upload, model.mtimes[*upload]);
            let identity = Identity::of(&validated.upload);
            let mut writer = EnqueueWriter::new(tx).expect("writer");
            let existing = writer.find_reusable(&identity).expect("find");
            let unfinished_before = model
                .transfers
                .iter()
                .filter(|transfer| transfer.upload == *upload && !transfer.state.is_final())
                .count();
            let reused = existing.is_some_and(|existing| {
                !existing.state.is_final()
                    || (existing.state == StateKind::Succeeded
                        && existing.snapshot == validated.snapshot)
            });
            if !reused {
                assert_eq!(
                    unfinished_before, 0,
                    "upload {upload} enqueued again beside its unfinished transfer"
                );
                let id = TransferId::generate();
                writer
                    .insert(&id, &validated, &identity, 0)
                    .expect("insert");
                totals.merge(writer.totals());
                model.transfers.push(Modelled {
                    id,
                    upload: *upload,
                    size: validated.snapshot.size,
                    mtime_ns: validated.snapshot.mtime_ns,
                    state: StateKind::Queued,
                    verdicts: 0,
                });
            }
        }
        Step::Start { pick } => drive(
            tx,
            model,
            *pick,
            &Input::Start {
                lane: Lane::InProcess,
            },
            totals,
        ),
        Step::Finish { pick, outcome } => {
            let input = match outcome {
                Outcome::Succeeded => Input::Succeeded,
                Outcome::Retryable => Input::RetryableFailure,
                Outcome::Permanent => Input::PermanentFailure,
                Outcome::Auth => Input::AuthFailure,
            };
            drive(tx, model, *pick, &input, totals);
        }
        Step::Command { pick, input } => drive(tx, model, *pick, &COMMANDS[*input], totals),
        Step::Crash { .. } | Step::Reopen => unreachable!("not a step of a turn"),
    }
}

/// One input to the `pick`-th transfer: the stored transfer changes as the actor changes it.
fn drive(tx: &Connection, model: &mut Model, pick: usize, input: &Input, totals: &mut TotalsDelta) {
    if model.transfers.is_empty() {
        return;
    }
    let index = pick % model.transfers.len();
    let id = model.transfers[index].id.clone();
    let mut transfer = store::load(tx, &id)
        .expect("load")
        .expect("a modelled transfer is stored");
    let Ok((next, effect)) = transition(&transfer.state, input) else {
        return;
    };
    match input {
        Input::Start { .. } => transfer.attempts = transfer.attempts.saturating_add(1),
        Input::Retry => transfer.attempts = 0,
        _ => {}
    }
    if let Effect::Abort(_) = effect {
        // The app stopped the attempt: it does not use up the retry budget.
        transfer.attempts = transfer.attempts.saturating_sub(1);
    }
    transfer.state = next;
    store::save(tx, &transfer, 0, totals).expect("save");
    let modelled = &mut model.transfers[index];
    let before = modelled.state;
    modelled.state = transfer.state.kind();
    match input {
        Input::Succeeded
        | Input::RetryableFailure
        | Input::PermanentFailure
        | Input::AuthFailure => {
            modelled.verdicts += 1;
        }
        Input::Retry => modelled.verdicts = 0,
        _ => {}
    }
    check_final_states_stay(before, modelled.state, input);
}

fn check_final_states_stay(before: StateKind, after: StateKind, input: &Input) {
    match before {
        StateKind::Succeeded | StateKind::Cancelled => {
            assert_eq!(after, before, "{before:?} changed on {input:?}");
        }
        StateKind::Failed => assert!(
            after == before || matches!(input, Input::Retry),
            "a failed transfer became {after:?} on {input:?}"
        ),
        _ => {}
    }
}

/// One turn: its steps in one transaction, its totals written before the commit.
fn turn(store: &mut Store, model: &mut Model, steps: &[Step], commit: bool) {
    let tx = store.connection().transaction().expect("begin");
    let mut totals = TotalsDelta::default();
    for step in steps {
        apply(&tx, model, step, &mut totals);
    }
    store::apply_totals(&tx, &totals).expect("totals");
    if commit {
        tx.commit().expect("commit");
    }
}

/// Opens the queue as `TransferQueue::open` does: attempts that died with the process are
/// queued again without using up an attempt.
fn open(path: &Path, model: &mut Model) -> Store {
    let mut store = Store::open(path).expect("open");
    store::requeue_interrupted_in_process(store.connection(), 0).expect("requeue at open");
    for transfer in &mut model.transfers {
        if transfer.state == StateKind::Running {
            transfer.state = StateKind::Queued;
        }
    }
    store
}

/// The store holds exactly the model's transfers, with their states and attempts, and
/// its totals count them.
fn check(store: &mut Store, model: &Model) {
    let conn = store.connection();
    let stored = store::list(conn, None, 0, u64::MAX).expect("list");
    assert_eq!(
        stored.len(),
        model.transfers.len(),
        "transfers lost or duplicated"
    );
    let by_id: HashMap<&str, &Modelled> = model
        .transfers
        .iter()
        .map(|transfer| (transfer.id.as_str(), transfer))
        .collect();
    for transfer in &stored {
        let modelled = by_id
            .get(transfer.id.as_str())
            .unwrap_or_else(|| panic!("{} is stored but was never enqueued", transfer.id));
        assert_eq!(transfer.state.kind(), modelled.state, "{}", transfer.id);
        assert_eq!(
            (transfer.size, transfer.source_mtime_ns),
            (modelled.size, modelled.mtime_ns)
        );
        let running = u32::from(modelled.state == StateKind::Running);
        assert_eq!(
            transfer.attempts,
            modelled.verdicts + running,
            "{}: attempts are verdicts since the last retry, plus the running one",
            transfer.id
        );
    }
    let totals = store::totals(conn).expect("totals");
    for kind in StateKind::ALL {
        let of_kind = model
            .transfers
            .iter()
            .filter(|transfer| transfer.state == kind);
        let files = of_kind.clone().count() as u64;
        let bytes = of_kind.map(|transfer| transfer.size).sum();
        assert_eq!(totals.get(kind), (files, bytes), "totals of {kind:?}");
    }
}

fn run(steps: &[Step]) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("queue.db");
    let mut model = Model::default();
    let mut store = open(&path, &mut model);
    for step in steps {
        match step {
            Step::Crash { lost } => {
                // The lost steps change a copy of the model, as they changed the rows of
                // the transaction that was never committed.
                let mut scratch = model.clone();
                turn(&mut store, &mut scratch, lost, false);
                drop(store);
                store = open(&path, &mut model);
            }
            Step::Reopen => {
                // A clean shutdown interrupts running attempts: no verdict, no attempt used.
                let running =
                    store::list(store.connection(), Some(StateKind::Running), 0, u64::MAX)
                        .expect("list running");
                let tx = store.connection().transaction().expect("begin");
                let mut totals = TotalsDelta::default();
                for mut transfer in running {
                    assert!(transfer.requeue_without_verdict(std::time::UNIX_EPOCH));
                    store::save(&tx, &transfer, 0, &mut totals).expect("save");
                }
                store::apply_totals(&tx, &totals).expect("totals");
                tx.commit().expect("commit");
                drop(store);
                store = open(&path, &mut model);
            }
            step => turn(&mut store, &mut model, std::slice::from_ref(step), true),
        }
        check(&mut store, &model);
    }
}

proptest! {
    // Bounded: each case opens a database a few times; the whole test takes seconds. A
    // fixed seed makes every run try the same cases, so a failure is reproducible.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(23),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_queue_keeps_its_invariants_through_commands_outcomes_crashes_and_reopens(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        run(&steps);
    }
}

/// A fixed sequence through every kind of step, so the test above cannot pass vacuously.
#[test]
fn a_transfer_interrupted_by_a_crash_keeps_only_its_verdicts() {
    let steps = [
        Step::Enqueue {
            upload: 0,
            changed: false,
        },
        Step::Start { pick: 0 },
        Step::Finish {
            pick: 0,
            outcome: Outcome::Retryable,
        },
        Step::Start { pick: 0 },
        Step::Crash {
            lost: vec![Step::Finish {
                pick: 0,
                outcome: Outcome::Succeeded,
            }],
        },
        Step::Start { pick: 0 },
        Step::Reopen,
        Step::Enqueue {
            upload: 0,
            changed: true,
        },
    ];
    run(&steps);
    // `run` checked every step; here the end: one retryable verdict survived, queued.
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("queue.db");
    let mut model = Model::default();
    let mut store = open(&path, &mut model);
    for step in &steps[..4] {
        turn(&mut store, &mut model, std::slice::from_ref(step), true);
    }
    drop(store);
    let mut store = open(&path, &mut model);
    let stored = store::list(store.connection(), None, 0, 10).expect("list");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state.kind(), StateKind::Queued);
    assert_eq!(
        stored[0].attempts, 1,
        "the retryable verdict, not the interrupted attempt"
    );
}
