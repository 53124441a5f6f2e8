//! What the queue told across runs, and the check a reopened queue must pass: every told
//! id exists, every told success is still `Succeeded`.
//!
//! It must never learn a fact from what a reopened queue lists (only from what it told
//! while it ran), or the check would check itself.

use std::collections::{BTreeMap, BTreeSet};

use ferry_testkit::power_cut::protocol::Told;

#[derive(Default)]
pub struct Facts {
    ids: BTreeSet<String>,
    succeeded: BTreeSet<String>,
}

impl Facts {
    /// Learns the facts a run told.
    pub fn learn(&mut self, told: &[Told]) {
        for fact in told {
            match fact {
                Told::Enqueued { id } => {
                    self.ids.insert(id.clone());
                }
                Told::Succeeded { id } => {
                    self.ids.insert(id.clone());
                    self.succeeded.insert(id.clone());
                }
                _ => {}
            }
        }
    }

    pub fn ids(&self) -> usize {
        self.ids.len()
    }

    pub fn successes(&self) -> usize {
        self.succeeded.len()
    }

    /// The told facts a reopened queue no longer holds, from what it listed at open;
    /// `Err` if it never listed (the database did not open).
    pub fn lost(&self, reopened: &[Told]) -> Result<Vec<String>, String> {
        if !reopened
            .iter()
            .any(|fact| matches!(fact, Told::Listed { .. }))
        {
            return Err("the reopened queue never listed its transfers".into());
        }
        let records: BTreeMap<&str, &str> = reopened
            .iter()
            .filter_map(|fact| match fact {
                Told::Record { id, state } => Some((id.as_str(), state.as_str())),
                _ => None,
            })
            .collect();
        let mut lost: Vec<String> = self
            .ids
            .iter()
            .filter(|id| !records.contains_key(id.as_str()))
            .map(|id| format!("told id {id} does not exist"))
            .collect();
        lost.extend(
            self.succeeded
                .iter()
                .filter_map(|id| match records.get(id.as_str()) {
                    Some(&"Succeeded") | None => None,
                    Some(state) => Some(format!("told success {id} is now {state}")),
                }),
        );
        Ok(lost)
    }
}
