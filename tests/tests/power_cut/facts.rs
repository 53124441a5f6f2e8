//! What the queue told across runs, and the check a reopened queue must pass: every told
//! id exists, every told success is still `Succeeded`, and every told success of a
//! download says where its file was saved.
//!
//! It must never learn a fact from what a reopened queue lists (only from what it told
//! while it ran), or the check would check itself.

use std::collections::{BTreeMap, BTreeSet};

use ferry_testkit::power_cut::protocol::Told;

#[derive(Default)]
pub struct Facts {
    ids: BTreeSet<String>,
    succeeded: BTreeSet<String>,
    /// The downloads told enqueued: id, then the name of the file fetched.
    downloads: BTreeMap<String, String>,
}

impl Facts {
    /// Learns the facts a run told.
    pub fn learn(&mut self, told: &[Told]) {
        for fact in told {
            match fact {
                Told::Enqueued { id } => {
                    self.ids.insert(id.clone());
                }
                Told::EnqueuedDownload { id, name } => {
                    self.ids.insert(id.clone());
                    self.downloads.insert(id.clone(), name.clone());
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

    /// Every download told enqueued: its id, its file's name, and whether its success
    /// was told.
    pub fn downloads(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.downloads
            .iter()
            .map(|(id, name)| (id.as_str(), name.as_str(), self.succeeded.contains(id)))
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
        let records = records(reopened);
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
        let saved = saved_paths(reopened);
        lost.extend(
            self.downloads()
                .filter(|&(id, _, succeeded)| succeeded && !saved.contains_key(id))
                .map(|(id, _, _)| format!("told success {id} has no saved path")),
        );
        Ok(lost)
    }
}

/// The state of every transfer a reopened queue listed, by id.
pub fn records(reopened: &[Told]) -> BTreeMap<&str, &str> {
    reopened
        .iter()
        .filter_map(|fact| match fact {
            Told::Record { id, state } => Some((id.as_str(), state.as_str())),
            _ => None,
        })
        .collect()
}

/// Where a reopened queue listed each download's file as saved, by id.
pub fn saved_paths(reopened: &[Told]) -> BTreeMap<&str, &str> {
    reopened
        .iter()
        .filter_map(|fact| match fact {
            Told::Saved { id, path } => Some((id.as_str(), path.as_str())),
            _ => None,
        })
        .collect()
}
