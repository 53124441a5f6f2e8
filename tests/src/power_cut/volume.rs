//! The power-cut file system's contents: a live tree that every operation changes, and a
//! durable tree that holds only what was synced, which is all a power cut leaves.
//!
//! What a sync makes durable, as Linux's journaling file systems (ext4, XFS, btrfs) do at
//! the least:
//! - `fsync`/`fdatasync` of a file: its bytes and size, and the names it has in
//!   directories that are themselves durable (a file created and synced is found after a
//!   cut, as SQLite and Ferry expect of a new database file);
//! - `fsync` of a directory: its entries (creates, unlinks and renames in it), pointing at
//!   files whose bytes are whatever was last synced of them (none, if never).
//!
//! Nothing else is durable: writes, truncations, unlinks and renames not yet synced are
//! lost in a cut.
//!
//! It must never make anything durable that was not synced, and after a cut it must
//! refuse every operation (`EIO`) until a new volume is started from the durable tree.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};

use super::pages::Pages;

pub(crate) type Ino = u64;
/// The root directory's inode number, as FUSE numbers it.
pub(crate) const ROOT: Ino = 1;

#[derive(Clone, Debug)]
enum Node {
    File(Pages),
    Dir(BTreeMap<OsString, Ino>),
}

/// What an inode is, as `stat` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
}

/// An inode's kind and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    pub ino: Ino,
    pub kind: Kind,
    pub size: u64,
}

/// A file whose live bytes differ from its durable ones when the power was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsynced {
    /// Its path from the root of the volume, `/`-separated.
    pub path: String,
    /// Its size before the cut.
    pub live_len: u64,
    /// Its size after the cut; `None` if it does not survive.
    pub durable_len: Option<u64>,
}

/// What a cut dropped.
#[derive(Clone, Debug, Default)]
pub struct CutReport {
    pub unsynced: Vec<Unsynced>,
}

impl CutReport {
    /// Whether a file whose name ends with `suffix` (e.g. `-wal`) lost unsynced bytes.
    pub fn lost_unsynced(&self, suffix: &str) -> bool {
        self.unsynced.iter().any(|file| file.path.ends_with(suffix))
    }
}

/// The two trees and the counters of what synced them.
pub(crate) struct Volume {
    live: HashMap<Ino, Node>,
    durable: HashMap<Ino, Node>,
    next_ino: Ino,
    severed: bool,
    pub(crate) file_syncs: u64,
    pub(crate) dir_syncs: u64,
}

pub(crate) type Result<T> = std::result::Result<T, i32>;

impl Volume {
    /// An empty volume: a root directory, durable.
    pub(crate) fn new() -> Self {
        let root = HashMap::from([(ROOT, Node::Dir(BTreeMap::new()))]);
        Self {
            live: root.clone(),
            durable: root,
            next_ino: ROOT + 1,
            severed: false,
            file_syncs: 0,
            dir_syncs: 0,
        }
    }

    /// Cuts the power: everything not durable is gone, and every operation fails from now
    /// on. Says which files lost bytes.
    pub(crate) fn cut(&mut self) -> CutReport {
        let mut report = CutReport::default();
        self.walk(ROOT, String::new(), &mut report);
        self.live = self.durable.clone();
        self.severed = true;
        report
    }

    /// The volume as it boots after a cut: the durable tree, live again.
    pub(crate) fn restarted(&self) -> Self {
        Self {
            live: self.durable.clone(),
            durable: self.durable.clone(),
            next_ino: self.next_ino,
            severed: false,
            file_syncs: 0,
            dir_syncs: 0,
        }
    }

    fn walk(&self, dir: Ino, prefix: String, report: &mut CutReport) {
        let Some(Node::Dir(entries)) = self.live.get(&dir) else {
            return;
        };
        for (name, &ino) in entries {
            let path = format!("{prefix}/{}", name.to_string_lossy());
            match (self.live.get(&ino), self.durable.get(&ino)) {
                (Some(Node::Dir(_)), _) => self.walk(ino, path, report),
                (Some(Node::File(live)), durable) => {
                    let durable = match durable {
                        Some(Node::File(bytes)) if self.durable_name(dir, name, ino) => Some(bytes),
                        _ => None,
                    };
                    if durable.is_none_or(|bytes| live.differs_from(bytes)) {
                        report.unsynced.push(Unsynced {
                            path,
                            live_len: live.len(),
                            durable_len: durable.map(Pages::len),
                        });
                    }
                }
                (None, _) => {}
            }
        }
    }

    fn durable_name(&self, dir: Ino, name: &OsStr, ino: Ino) -> bool {
        matches!(self.durable.get(&dir), Some(Node::Dir(entries)) if entries.get(name) == Some(&ino))
    }

    fn alive(&self) -> Result<()> {
        if self.severed { Err(libc::EIO) } else { Ok(()) }
    }

    fn node(&self, ino: Ino) -> Result<&Node> {
        self.alive()?;
        self.live.get(&ino).ok_or(libc::ENOENT)
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut Pages> {
        self.alive()?;
        match self.live.get_mut(&ino) {
            Some(Node::File(pages)) => Ok(pages),
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut BTreeMap<OsString, Ino>> {
        self.alive()?;
        match self.live.get_mut(&ino) {
            Some(Node::Dir(entries)) => Ok(entries),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    pub(crate) fn attr(&self, ino: Ino) -> Result<Attr> {
        Ok(match self.node(ino)? {
            Node::File(pages) => Attr {
                ino,
                kind: Kind::File,
                size: pages.len(),
            },
            Node::Dir(entries) => Attr {
                ino,
                kind: Kind::Dir,
                size: entries.len() as u64,
            },
        })
    }

    pub(crate) fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr> {
        match self.node(parent)? {
            Node::Dir(entries) => self.attr(*entries.get(name).ok_or(libc::ENOENT)?),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    /// Every name `ino` has in the live tree (a file may have none, or several).
    pub(crate) fn names_of(&self, ino: Ino) -> Vec<String> {
        self.live
            .values()
            .filter_map(|node| match node {
                Node::Dir(entries) => Some(entries),
                Node::File(_) => None,
            })
            .flat_map(|entries| entries.iter())
            .filter(|&(_, &child)| child == ino)
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect()
    }

    /// Creates an empty file or directory named `name` in `parent`.
    pub(crate) fn create(&mut self, parent: Ino, name: &OsStr, kind: Kind) -> Result<Attr> {
        let ino = self.next_ino;
        let entries = self.dir_mut(parent)?;
        if entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        entries.insert(name.to_owned(), ino);
        let node = match kind {
            Kind::File => Node::File(Pages::default()),
            Kind::Dir => Node::Dir(BTreeMap::new()),
        };
        self.live.insert(ino, node);
        self.next_ino += 1;
        self.attr(ino)
    }

    pub(crate) fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>> {
        match self.node(ino)? {
            Node::File(pages) => Ok(pages.read(offset, size)),
            Node::Dir(_) => Err(libc::EISDIR),
        }
    }

    pub(crate) fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<()> {
        self.file_mut(ino)?.write(offset, data);
        Ok(())
    }

    pub(crate) fn set_len(&mut self, ino: Ino, len: u64) -> Result<()> {
        self.file_mut(ino)?.set_len(len);
        Ok(())
    }

    /// Removes the name; the inode lives on for whoever holds it open.
    pub(crate) fn unlink(&mut self, parent: Ino, name: &OsStr, kind: Kind) -> Result<()> {
        let ino = self.lookup(parent, name)?.ino;
        match (kind, self.node(ino)?) {
            (Kind::File, Node::Dir(_)) => return Err(libc::EISDIR),
            (Kind::Dir, Node::File(_)) => return Err(libc::ENOTDIR),
            (Kind::Dir, Node::Dir(entries)) if !entries.is_empty() => {
                return Err(libc::ENOTEMPTY);
            }
            _ => {}
        }
        self.dir_mut(parent)?.remove(name);
        Ok(())
    }

    /// Moves `name` to `new_name`, replacing a file there.
    pub(crate) fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        new_parent: Ino,
        new_name: &OsStr,
    ) -> Result<()> {
        let ino = self.lookup(parent, name)?.ino;
        if let Ok(existing) = self.lookup(new_parent, new_name)
            && existing.kind == Kind::Dir
        {
            return Err(libc::EISDIR);
        }
        self.dir_mut(new_parent)?;
        self.dir_mut(parent)?.remove(name);
        self.dir_mut(new_parent)?.insert(new_name.to_owned(), ino);
        Ok(())
    }

    /// A directory's entries, in name order.
    pub(crate) fn entries(&self, ino: Ino) -> Result<Vec<(OsString, Attr)>> {
        match self.node(ino)? {
            Node::Dir(entries) => entries
                .iter()
                .map(|(name, &child)| Ok((name.clone(), self.attr(child)?)))
                .collect(),
            Node::File(_) => Err(libc::ENOTDIR),
        }
    }

    /// `fsync`/`fdatasync` of a file: its bytes, and its names in durable directories.
    pub(crate) fn sync_file(&mut self, ino: Ino) -> Result<()> {
        let node = self.node(ino)?.clone();
        if let Node::Dir(_) = node {
            return self.sync_dir(ino);
        }
        self.durable.insert(ino, node);
        for (&dir, live) in &self.live {
            let Node::Dir(entries) = live else { continue };
            let Some(Node::Dir(durable)) = self.durable.get_mut(&dir) else {
                continue;
            };
            for (name, _) in entries.iter().filter(|&(_, &child)| child == ino) {
                durable.insert(name.clone(), ino);
            }
        }
        self.file_syncs += 1;
        Ok(())
    }

    /// `fsync` of a directory: its entries; files it names that never synced are empty.
    pub(crate) fn sync_dir(&mut self, ino: Ino) -> Result<()> {
        let Node::Dir(entries) = self.node(ino)?.clone() else {
            return Err(libc::ENOTDIR);
        };
        for &child in entries.values() {
            if !self.durable.contains_key(&child) {
                let empty = match self.live.get(&child) {
                    Some(Node::Dir(_)) => Node::Dir(BTreeMap::new()),
                    _ => Node::File(Pages::default()),
                };
                self.durable.insert(child, empty);
            }
        }
        self.durable.insert(ino, Node::Dir(entries));
        self.dir_syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> &OsStr {
        OsStr::new(text)
    }

    /// Creates `/file_name` holding `bytes`, unsynced.
    fn new_file(volume: &mut Volume, file_name: &str, bytes: &[u8]) -> Ino {
        let ino = volume
            .create(ROOT, name(file_name), Kind::File)
            .expect("create")
            .ino;
        volume.write(ino, 0, bytes).expect("write");
        ino
    }

    #[test]
    fn a_cut_keeps_synced_bytes_and_drops_the_rest() {
        let mut volume = Volume::new();
        let file = new_file(&mut volume, "db", b"synced");
        volume.sync_file(file).expect("sync");
        volume.write(file, 6, b" and not").expect("write");
        let report = volume.cut();
        assert_eq!(
            report.unsynced,
            vec![Unsynced {
                path: "/db".into(),
                live_len: 14,
                durable_len: Some(6)
            }]
        );
        assert_eq!(volume.read(file, 0, 100), Err(libc::EIO), "severed");
        let after = volume.restarted();
        let file = after.lookup(ROOT, name("db")).expect("the synced file").ino;
        assert_eq!(after.read(file, 0, 100).expect("read"), b"synced");
    }

    #[test]
    fn an_unsynced_file_vanishes_and_a_synced_directory_keeps_its_name_empty() {
        let mut volume = Volume::new();
        new_file(&mut volume, "lost", b"x");
        let report = volume.cut();
        assert!(report.lost_unsynced("lost"));
        assert_eq!(
            volume.restarted().lookup(ROOT, name("lost")),
            Err(libc::ENOENT)
        );

        let mut volume = Volume::new();
        new_file(&mut volume, "named", b"bytes");
        volume.sync_dir(ROOT).expect("dirsync");
        volume.cut();
        let after = volume.restarted();
        assert_eq!(after.lookup(ROOT, name("named")).expect("named").size, 0);
    }

    #[test]
    fn an_unlink_or_rename_is_undone_by_a_cut_unless_its_directory_synced() {
        let mut volume = Volume::new();
        let journal = volume
            .create(ROOT, name("j"), Kind::File)
            .expect("create")
            .ino;
        volume.sync_file(journal).expect("sync");
        volume.unlink(ROOT, name("j"), Kind::File).expect("unlink");
        volume.cut();
        let mut volume = volume.restarted();
        assert!(
            volume.lookup(ROOT, name("j")).is_ok(),
            "the unlink was lost"
        );

        volume
            .rename(ROOT, name("j"), ROOT, name("k"))
            .expect("rename");
        volume.sync_dir(ROOT).expect("dirsync");
        volume.cut();
        let volume = volume.restarted();
        assert_eq!(volume.lookup(ROOT, name("j")), Err(libc::ENOENT));
        assert!(
            volume.lookup(ROOT, name("k")).is_ok(),
            "the rename was synced"
        );
    }
}
