//! The lines the power-cut test's queue process (`child.rs`) prints, one fact a line, and
//! how the test reads them back. A line is printed only once the queue told the fact.
//!
//! It must never print a fact the queue has not told: the test holds the queue to every
//! line. Names and paths are printed as words: the test gives none with whitespace.

use std::fmt;

/// One line of the queue process's standard output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Told {
    /// `TransferQueue::open` returned.
    Opened,
    /// A transfer found in the reopened queue, with its state's name (`Succeeded`, ...).
    Record { id: String, state: String },
    /// A download found in the reopened queue has its file at this path (its
    /// `saved_as`); printed right after its `Record`.
    Saved { id: String, path: String },
    /// Every transfer of the reopened queue was listed.
    Listed { count: u64 },
    /// `enqueue_many` returned this id.
    Enqueued { id: String },
    /// `enqueue_downloads` returned this id for the download of the file `name`.
    EnqueuedDownload { id: String, name: String },
    /// A `Succeeded` event for this id.
    Succeeded { id: String },
    /// `wait_idle` returned: nothing left to do.
    Idle,
}

impl Told {
    /// Reads a line printed by [`Told`]'s `Display`; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let mut words = line.split_whitespace();
        let told = match (words.next()?, words.next(), words.next()) {
            ("opened", None, None) => Self::Opened,
            ("record", Some(id), Some(state)) => Self::Record {
                id: id.into(),
                state: state.into(),
            },
            ("saved", Some(id), Some(path)) => Self::Saved {
                id: id.into(),
                path: path.into(),
            },
            ("enqueued-download", Some(id), Some(name)) => Self::EnqueuedDownload {
                id: id.into(),
                name: name.into(),
            },
            ("listed", Some(count), None) => Self::Listed {
                count: count.parse().ok()?,
            },
            ("enqueued", Some(id), None) => Self::Enqueued { id: id.into() },
            ("succeeded", Some(id), None) => Self::Succeeded { id: id.into() },
            ("idle", None, None) => Self::Idle,
            _ => return None,
        };
        words.next().is_none().then_some(told)
    }

    /// Whether this is a fact the queue told while it ran (not what it found at open).
    pub fn is_news(&self) -> bool {
        matches!(
            self,
            Self::Enqueued { .. } | Self::EnqueuedDownload { .. } | Self::Succeeded { .. }
        )
    }
}

impl fmt::Display for Told {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Opened => write!(f, "opened"),
            Self::Record { id, state } => write!(f, "record {id} {state}"),
            Self::Saved { id, path } => write!(f, "saved {id} {path}"),
            Self::Listed { count } => write!(f, "listed {count}"),
            Self::Enqueued { id } => write!(f, "enqueued {id}"),
            Self::EnqueuedDownload { id, name } => write!(f, "enqueued-download {id} {name}"),
            Self::Succeeded { id } => write!(f, "succeeded {id}"),
            Self::Idle => write!(f, "idle"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_reads_back_as_printed_and_nothing_else_parses() {
        let all = [
            Told::Opened,
            Told::Record {
                id: "a1".into(),
                state: "Succeeded".into(),
            },
            Told::Saved {
                id: "a1".into(),
                path: "/v/d/f00001".into(),
            },
            Told::Listed { count: 3 },
            Told::Enqueued { id: "b2".into() },
            Told::EnqueuedDownload {
                id: "b3".into(),
                name: "d00002".into(),
            },
            Told::Succeeded { id: "c3".into() },
            Told::Idle,
        ];
        for told in all {
            assert_eq!(Told::parse(&told.to_string()), Some(told));
        }
        for noise in [
            "",
            "opened now",
            "listed many",
            "record a1",
            "saved a1",
            "enqueued-download b3",
            "panicked at x",
        ] {
            assert_eq!(Told::parse(noise), None, "{noise:?}");
        }
    }
}
