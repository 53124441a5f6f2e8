//! Files and bytes per state, kept in the `state_totals` table, so `progress()` and
//! `count_by_state()` read a few rows instead of every transfer.
//!
//! Counting by a scan of `transfers` took 33 ms at 100,000 transfers, in every `progress()`
//! call: the CLI asks four times a second, an app's progress bar as often, and a reopened
//! queue's first answer waited for it (`queue_scale`).
//!
//! The store's writers keep the table true, inside the transaction that changes the rows:
//! - `save` adds each change of state to the turn's [`TotalsDelta`] (it reads the state it
//!   replaces: a rowid lookup), and so does an enqueue for each row it inserts; the
//!   turn writes the delta once, before it commits ([`apply`]);
//! - the bulk requeues count what they move at once (`RETURNING size`);
//! - the bulk calls (`bulk.rs`) add every row of a chunk they change or delete.
//!
//! SQLite triggers would keep it with less code, but cost 1.1 µs per UPDATE of a row even
//! when they do nothing, and 2.4 µs when they count (`many_small_puts` lost 12%).
//!
//! Nothing else may change a transfer's state or insert or delete one without counting it
//! here: the integration tests compare the totals with every transfer `list` reads.

use rusqlite::Connection;

use super::row::{corrupt, to_i64};
use crate::progress::StateCount;
use crate::state::StateKind;

/// Files and bytes per state, as the table holds them.
///
/// Held signed: the table is written once per turn, and a turn reads it with its own
/// changes added ([`StateTotals::add_pending`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct StateTotals(TotalsDelta);

impl StateTotals {
    /// Files and bytes in `kind`; a count below zero reads as none.
    pub(crate) fn get(&self, kind: StateKind) -> (u64, u64) {
        let (files, bytes) = self.0.by_state[kind as usize];
        (
            u64::try_from(files).unwrap_or(0),
            u64::try_from(bytes).unwrap_or(0),
        )
    }

    /// Counts one more file of `size` bytes in `kind` (a snapshot counting files itself).
    pub(crate) fn add(&mut self, kind: StateKind, size: u64) {
        self.0.inserted_as(kind, size);
    }

    /// Files and bytes in every state, in [`StateKind::ALL`] order.
    pub(crate) fn counts(&self) -> Vec<StateCount> {
        StateKind::ALL
            .into_iter()
            .map(|state| {
                let (files, bytes) = self.get(state);
                StateCount {
                    state,
                    files,
                    bytes,
                }
            })
            .collect()
    }

    /// Adds changes of this turn not yet written to the table.
    pub(crate) fn add_pending(&mut self, delta: &TotalsDelta) {
        self.0.merge(delta);
    }
}

pub(crate) fn totals(conn: &Connection) -> rusqlite::Result<StateTotals> {
    let mut statement = conn.prepare_cached("SELECT state, files, bytes FROM state_totals")?;
    let mut rows = statement.query([])?;
    let mut totals = TotalsDelta::default();
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let kind = StateKind::parse(&name).ok_or_else(|| corrupt(0, "unknown state"))?;
        totals.by_state[kind as usize] = (row.get(1)?, row.get(2)?);
    }
    Ok(StateTotals(totals))
}

/// [`totals`] with a turn's changes not yet written (`pending`) counted in.
pub(crate) fn totals_with(
    conn: &Connection,
    pending: &TotalsDelta,
) -> rusqlite::Result<StateTotals> {
    let mut totals = totals(conn)?;
    totals.add_pending(pending);
    Ok(totals)
}

/// Changes to the totals made in this turn and not yet written to the table: each
/// state's files and bytes, signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TotalsDelta {
    by_state: [(i64, i64); StateKind::ALL.len()],
}

impl TotalsDelta {
    /// Indexed by `StateKind as usize`, the order of [`StateKind::ALL`].
    fn slot(&mut self, kind: StateKind) -> &mut (i64, i64) {
        &mut self.by_state[kind as usize]
    }

    /// A new transfer of `size` bytes, inserted as `queued`.
    pub(crate) fn inserted(&mut self, size: u64) {
        self.inserted_as(StateKind::Queued, size);
    }

    /// One more transfer of `size` bytes in `kind`.
    fn inserted_as(&mut self, kind: StateKind, size: u64) {
        let slot = self.slot(kind);
        slot.0 += 1;
        slot.1 = slot.1.saturating_add(to_i64(size));
    }

    /// A transfer of `size` bytes moved from `from` to `to`.
    pub(crate) fn moved(&mut self, from: StateKind, to: StateKind, size: u64) {
        if from == to {
            return;
        }
        let size = to_i64(size);
        let left = self.slot(from);
        left.0 -= 1;
        left.1 = left.1.saturating_sub(size);
        let entered = self.slot(to);
        entered.0 += 1;
        entered.1 = entered.1.saturating_add(size);
    }

    /// A transfer in `state` was found to be `to` bytes where `from` were counted (a
    /// download of unknown size, once it arrived).
    pub(crate) fn resized(&mut self, state: StateKind, from: u64, to: u64) {
        let slot = self.slot(state);
        slot.1 = slot
            .1
            .saturating_sub(to_i64(from))
            .saturating_add(to_i64(to));
    }

    /// A transfer of `size` bytes in `state` was deleted.
    pub(crate) fn removed(&mut self, state: StateKind, size: u64) {
        let slot = self.slot(state);
        slot.0 -= 1;
        slot.1 = slot.1.saturating_sub(to_i64(size));
    }

    pub(crate) fn merge(&mut self, other: &TotalsDelta) {
        for (mine, theirs) in self.by_state.iter_mut().zip(other.by_state) {
            mine.0 += theirs.0;
            mine.1 = mine.1.saturating_add(theirs.1);
        }
    }

    fn changes(&self) -> impl Iterator<Item = (StateKind, i64, i64)> + '_ {
        StateKind::ALL
            .into_iter()
            .zip(self.by_state)
            .filter(|(_, (files, bytes))| *files != 0 || *bytes != 0)
            .map(|(kind, (files, bytes))| (kind, files, bytes))
    }
}

/// Writes `delta` to the table, in the transaction that made the changes it counts.
pub(crate) fn apply(conn: &Connection, delta: &TotalsDelta) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO state_totals (state, files, bytes) VALUES (?1, ?2, ?3) \
         ON CONFLICT (state) DO UPDATE \
         SET files = files + excluded.files, bytes = bytes + excluded.bytes",
    )?;
    for (kind, files, bytes) in delta.changes() {
        statement.execute(rusqlite::params![kind.as_str(), files, bytes])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransferId;
    use crate::state::{Lane, TransferState};
    use crate::store::{
        EnqueueWriter, Identity, Store, list, requeue_running, save, save_replacing,
    };
    use crate::upload::{SourceSnapshot, Upload, ValidatedUpload};

    fn counted_by_scan(conn: &Connection) -> Vec<(String, i64, i64)> {
        conn.prepare(
            "SELECT state, count(*), coalesce(sum(size), 0) FROM transfers \
             GROUP BY state ORDER BY state",
        )
        .expect("prepare")
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("scan")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
    }

    fn counted_in_table(conn: &Connection) -> Vec<(String, i64, i64)> {
        conn.prepare("SELECT state, files, bytes FROM state_totals WHERE files != 0 ORDER BY state")
            .expect("prepare")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .expect("read")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    /// Inserts as a turn's enqueue does, counting into `turn`.
    fn enqueue(conn: &Connection, sizes: &[u64], turn: &mut TotalsDelta) {
        let mut writer = EnqueueWriter::new(conn).expect("writer");
        for (index, size) in sizes.iter().enumerate() {
            let validated = ValidatedUpload {
                upload: Upload::put(format!("/src/{size}/{index}"), format!("http://h/{index}")),
                host: "h:80".into(),
                snapshot: SourceSnapshot {
                    size: *size,
                    mtime_ns: 0,
                },
            };
            let identity = Identity::of(&validated.upload);
            writer
                .insert(&TransferId::generate(), &validated, &identity, 0)
                .expect("insert");
        }
        turn.merge(writer.totals());
    }

    /// Saves the transfer of `size` bytes in `state`, as the engine does.
    fn move_to(conn: &Connection, size: u64, state: TransferState, turn: &mut TotalsDelta) {
        let mut transfer = list(conn, None, 0, 100)
            .expect("list")
            .into_iter()
            .find(|transfer| transfer.size == size)
            .expect("a transfer of that size");
        transfer.state = state;
        save(conn, &transfer, 0, turn).expect("save");
    }

    #[test]
    fn the_table_agrees_with_a_scan_through_inserts_saves_and_requeues() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        let running = || TransferState::Running {
            lane: Lane::InProcess,
        };

        // One turn: enqueue, and start one of them before the turn writes its totals.
        let mut turn = TotalsDelta::default();
        enqueue(conn, &[100, 200, 300, 400, 500], &mut turn);
        move_to(conn, 100, running(), &mut turn);
        apply(conn, &turn).expect("write the turn's totals");
        assert_eq!(
            counted_in_table(conn),
            vec![("queued".into(), 4, 1400), ("running".into(), 1, 100)],
        );

        let mut turn = TotalsDelta::default();
        move_to(conn, 200, running(), &mut turn);
        move_to(conn, 300, running(), &mut turn);
        move_to(conn, 100, TransferState::Succeeded, &mut turn);
        move_to(conn, 500, TransferState::Paused, &mut turn);
        move_to(conn, 500, TransferState::Paused, &mut turn);
        apply(conn, &turn).expect("write the turn's totals");
        requeue_running(conn, 0).expect("requeue, counted at once");
        let mut turn = TotalsDelta::default();
        enqueue(conn, &[7], &mut turn);
        apply(conn, &turn).expect("write the turn's totals");

        let scanned = counted_by_scan(conn);
        assert_eq!(
            scanned,
            vec![
                ("paused".into(), 1, 500),
                ("queued".into(), 4, 907),
                ("succeeded".into(), 1, 100),
            ]
        );
        assert_eq!(counted_in_table(conn), scanned);
        let totals = totals(conn).expect("totals");
        assert_eq!(totals.get(StateKind::Queued), (4, 907));
        assert_eq!(totals.get(StateKind::Running), (0, 0));
    }

    #[test]
    fn a_save_naming_the_state_it_replaces_counts_from_the_stored_one_when_wrong() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        let mut turn = TotalsDelta::default();
        enqueue(conn, &[10, 20], &mut turn);
        let stored = list(conn, None, 0, 10).expect("list");
        let mut first = stored[0].clone();
        first.state = TransferState::Running {
            lane: Lane::InProcess,
        };
        save_replacing(conn, &first, StateKind::Queued, 0, &mut turn).expect("right");
        first.state = TransferState::Succeeded;
        save_replacing(conn, &first, StateKind::Running, 0, &mut turn).expect("right");
        let mut second = stored[1].clone();
        second.state = TransferState::Cancelled;
        save_replacing(conn, &second, StateKind::Paused, 0, &mut turn).expect("wrong");
        apply(conn, &turn).expect("write the turn's totals");

        let scanned = counted_by_scan(conn);
        assert_eq!(
            scanned,
            vec![("cancelled".into(), 1, 20), ("succeeded".into(), 1, 10)]
        );
        assert_eq!(counted_in_table(conn), scanned);
    }

    #[test]
    fn changes_not_yet_written_are_added_to_what_the_table_holds() {
        let mut held = TotalsDelta::default();
        *held.slot(StateKind::Succeeded) = (2, 20);
        *held.slot(StateKind::Queued) = (-1, -5);
        let mut totals = StateTotals(held);
        assert_eq!(
            totals.get(StateKind::Queued),
            (0, 0),
            "a count below zero reads as none"
        );
        let mut turn = TotalsDelta::default();
        totals.add_pending(&turn);
        assert_eq!(totals.get(StateKind::Queued), (0, 0), "nothing pending");
        turn.inserted(5);
        turn.inserted(6);
        turn.moved(StateKind::Queued, StateKind::Running, 6);
        turn.moved(StateKind::Running, StateKind::Running, 6);
        totals.add_pending(&turn);
        assert_eq!(totals.get(StateKind::Queued), (0, 0), "-1 + 2 - 1");
        assert_eq!(totals.get(StateKind::Running), (1, 6));
        assert_eq!(totals.get(StateKind::Succeeded), (2, 20));
    }

    #[test]
    fn a_download_sized_when_it_arrives_moves_its_new_size_on() {
        let mut turn = TotalsDelta::default();
        turn.inserted(0);
        turn.moved(StateKind::Queued, StateKind::Running, 0);
        turn.resized(StateKind::Running, 0, 40);
        turn.moved(StateKind::Running, StateKind::Succeeded, 40);
        let mut totals = StateTotals::default();
        totals.add_pending(&turn);
        assert_eq!(totals.get(StateKind::Queued), (0, 0));
        assert_eq!(totals.get(StateKind::Running), (0, 0));
        assert_eq!(totals.get(StateKind::Succeeded), (1, 40));
    }

    #[test]
    fn a_state_s_slot_is_its_place_in_all() {
        for (index, kind) in StateKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind:?}");
        }
    }

    #[test]
    fn a_row_of_an_unknown_state_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        conn.execute(
            "INSERT INTO state_totals (state, files, bytes) VALUES ('teleported', 1, 1)",
            [],
        )
        .expect("insert");
        let error = totals(conn).expect_err("an unknown state");
        assert!(error.to_string().contains("unknown state"), "{error}");
    }
}
