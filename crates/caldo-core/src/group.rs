//! Consumer groups without a broker.
//!
//! ```text
//! <dir>/groups/<group>/lock              taken while the group state changes
//! <dir>/groups/<group>/state.json        generation, members, assignment (tmp + rename)
//! <dir>/groups/<group>/gen               wake-up word bumped on every new generation
//! <dir>/groups/<group>/members/<id>      locked by its member for its lifetime
//! <dir>/groups/<group>/owners/<topic>-<p>  locked by the member consuming that partition
//! ```
//!
//! Liveness is the process: the kernel drops a dead member's locks. Each
//! member's watcher thread holds a pidfd per other member's process and
//! reaps the group as soon as one exits; nothing is taken over by timeout.
//! A member consumes a partition only while it holds its owner lock, so two
//! live members never consume one partition at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::fs::{flock, inotify, FlockOperation};
use serde::{Deserialize, Serialize};

use crate::assignor::{assign, Assignor, Sub, Tp};
use crate::error::{Code, Error, IoContext, Result};
use crate::log::Log;
use crate::offsets::Committed;
use crate::storage::cursor::Position;
use crate::storage::topic::{refuse_symlink, validate_name};
use crate::sync::lock;
use crate::sync::wake::Wake;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: String,
    pub pid: u32,
    pub topics: Vec<String>,
    pub assignor: Assignor,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GroupState {
    pub generation: u64,
    /// Sorted by id; ids start with the join time, so the first is the oldest.
    pub members: Vec<MemberInfo>,
    pub assignment: BTreeMap<String, Vec<Tp>>,
    /// The topics last subscribed to, kept after everyone leaves (for resets).
    pub topics: Vec<String>,
}

/// The paths of one group's directory.
pub struct GroupDir {
    pub name: String,
    dir: PathBuf,
    gen: Wake,
}

impl GroupDir {
    pub fn open(groups: &Path, name: &str) -> Result<GroupDir> {
        validate_name("group", name)?;
        let dir = groups.join(name);
        refuse_symlink(&dir)?;
        for sub in ["members", "owners"] {
            std::fs::create_dir_all(dir.join(sub)).ctx(format_args!("creating group '{name}'"))?;
        }
        let gen = Wake::open(&dir.join("gen"))?;
        Ok(GroupDir {
            name: name.to_string(),
            dir,
            gen,
        })
    }

    fn member_path(&self, id: &str) -> PathBuf {
        self.dir.join("members").join(id)
    }

    fn owner_path(&self, tp: &Tp) -> PathBuf {
        self.dir.join("owners").join(format!("{}-{}", tp.0, tp.1))
    }

    pub fn read_state(&self) -> Result<GroupState> {
        match std::fs::read(self.dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    Code::Corrupt,
                    format!("group '{}' has a damaged state.json: {e}", self.name),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GroupState::default()),
            Err(e) => Err(e).ctx(format_args!("reading group '{}'", self.name)),
        }
    }

    fn write_state(&self, state: &GroupState) -> Result<()> {
        let tmp = self.dir.join(format!(".state.{}.json", std::process::id()));
        let json = serde_json::to_vec_pretty(state).expect("state serializes");
        std::fs::write(&tmp, json).ctx("writing group state")?;
        std::fs::rename(&tmp, self.dir.join("state.json")).ctx("writing group state")
    }

    /// True while some process holds member `id`'s lock. Only called under the
    /// group lock, so two checkers never mistake each other for the member.
    fn alive(&self, id: &str) -> bool {
        let Ok(file) = File::open(self.member_path(id)) else {
            return false;
        };
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => false,
            Err(e) => e == rustix::io::Errno::WOULDBLOCK,
        }
    }

    /// Under the group lock: drops dead members, applies `change`, and when
    /// membership changed (or `force`), reassigns and starts a new generation.
    /// Returns the state as left.
    pub fn update(
        &self,
        log: &Log,
        force: bool,
        change: impl FnOnce(&mut GroupState) -> Result<()>,
    ) -> Result<GroupState> {
        let lock_file = open_lock(&self.dir.join("lock"))?;
        let _guard = lock::exclusive(&lock_file).ctx("locking group")?;
        let mut st = self.read_state()?;
        let before: Vec<String> = st.members.iter().map(|m| m.id.clone()).collect();
        st.members.retain(|m| {
            let alive = self.alive(&m.id);
            if !alive {
                let _ = std::fs::remove_file(self.member_path(&m.id));
            }
            alive
        });
        change(&mut st)?;
        st.members.sort_by(|a, b| a.id.cmp(&b.id));
        let after: Vec<&String> = st.members.iter().map(|m| &m.id).collect();
        if !force && after.iter().copied().eq(before.iter()) {
            return Ok(st);
        }
        let mut topics: BTreeSet<String> = BTreeSet::new();
        for m in &st.members {
            topics.extend(m.topics.iter().cloned());
        }
        if !st.members.is_empty() {
            st.topics = topics.iter().cloned().collect();
        }
        let mut partitions = BTreeMap::new();
        for t in topics {
            match log.topic(&t) {
                Ok(topic) => {
                    partitions.insert(t, topic.config.partitions);
                }
                // A topic deleted since someone subscribed is simply not assigned.
                Err(e) if e.code == Code::UnknownTopic => {}
                Err(e) => return Err(e),
            }
        }
        let subs: Vec<Sub> = st
            .members
            .iter()
            .map(|m| Sub {
                id: &m.id,
                topics: &m.topics,
            })
            .collect();
        let kind = st.members.first().map(|m| m.assignor).unwrap_or_default();
        st.assignment = assign(kind, &subs, &partitions, &st.assignment);
        st.generation += 1;
        self.write_state(&st)?;
        self.gen.notify();
        log.interrupt();
        Ok(st)
    }
}

fn open_lock(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .ctx(format_args!("opening {}", path.display()))
}

/// Tries to take `file`'s lock without waiting.
fn try_lock(file: &File) -> Result<bool> {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(std::io::Error::from(e)).ctx("locking partition owner"),
    }
}

fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:024}-{}-{n}", std::process::id())
}

pub struct Config {
    pub group: String,
    pub topics: Vec<String>,
    pub assignor: Assignor,
    /// Where a partition with no committed offset starts.
    pub start_from: Position,
    /// Commit processed offsets this often, on revoke and on leave; `None`: only by hand.
    pub auto_commit: Option<Duration>,
}

/// What a [`Member::sync`] changed: partitions to start reading (at the
/// offset given) and partitions given up.
#[derive(Debug, Default)]
pub struct Change {
    pub assigned: Vec<(Tp, u64)>,
    pub revoked: Vec<Tp>,
}

/// Reaps the group whenever another member's process exits or the state changes.
struct Watcher {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn spawn(log: Arc<Log>, group: Arc<GroupDir>) -> Result<Watcher> {
        let stop = eventfd(0, EventfdFlags::CLOEXEC).map_err(|e| Error::io("eventfd", e.into()))?;
        let stop2 = stop.try_clone().ctx("eventfd")?;
        let notify = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
            .map_err(|e| Error::io("inotify", e.into()))?;
        inotify::add_watch(&notify, &group.dir, inotify::WatchFlags::MOVED_TO)
            .map_err(|e| Error::io("inotify", e.into()))?;
        let thread = std::thread::spawn(move || watch(&log, &group, &stop2, &notify));
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = rustix::io::write(&self.stop, &1u64.to_ne_bytes());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(log: &Log, group: &GroupDir, stop: &OwnedFd, notify: &OwnedFd) {
    let me = std::process::id();
    loop {
        let Ok(st) = group.read_state() else { return };
        let mut pidfds = Vec::new();
        let mut gone = false;
        for m in st.members.iter().filter(|m| m.pid != me) {
            let pid = rustix::process::Pid::from_raw(m.pid as i32);
            match pid.map(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
            {
                Some(Ok(fd)) => pidfds.push(fd),
                Some(Err(rustix::io::Errno::SRCH)) => gone = true,
                // Without pidfds (old kernels), deaths are found at the next join or leave.
                _ => {}
            }
        }
        if !gone {
            let mut fds = vec![
                PollFd::new(stop, PollFlags::IN),
                PollFd::new(notify, PollFlags::IN),
            ];
            fds.extend(pidfds.iter().map(|fd| PollFd::new(fd, PollFlags::IN)));
            if poll(&mut fds, None).is_err() {
                continue;
            }
            if !fds[0].revents().is_empty() {
                return;
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
            while inotify::Reader::new(notify.as_fd(), &mut buf)
                .next()
                .is_ok()
            {}
            gone = fds[2..].iter().any(|f| !f.revents().is_empty());
        }
        if gone {
            // Errors here surface to the members at their next sync.
            let _ = group.update(log, false, |_| Ok(()));
        }
    }
}

/// A partition's owner lock kept past leaving; dropping it lets the partition go.
pub type Held = (Tp, File);

/// One member of a group, in this process.
pub struct Member {
    log: Arc<Log>,
    group: Arc<GroupDir>,
    cfg: Config,
    info: MemberInfo,
    /// Holds the member lock while it lives.
    file: Option<File>,
    /// The generation word as last synced.
    seen: u32,
    owned: BTreeMap<Tp, File>,
    pending: BTreeSet<Tp>,
    committed: BTreeMap<Tp, u64>,
    last_commit: Instant,
    fenced: bool,
    watcher: Option<Watcher>,
}

impl Member {
    pub fn join(log: Arc<Log>, cfg: Config) -> Result<Member> {
        validate_name("group", &cfg.group)?;
        if cfg.topics.is_empty() {
            return Err(Error::new(
                Code::InvalidArg,
                "subscribe to at least one topic",
            ));
        }
        for t in &cfg.topics {
            log.topic(t)?;
        }
        let group = Arc::new(log.group_dir(&cfg.group)?);
        let info = MemberInfo {
            id: String::new(),
            pid: std::process::id(),
            topics: cfg.topics.clone(),
            assignor: cfg.assignor,
        };
        let mut m = Member {
            log,
            group,
            cfg,
            info,
            file: None,
            seen: 0,
            owned: BTreeMap::new(),
            pending: BTreeSet::new(),
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
            fenced: false,
            watcher: None,
        };
        m.enter()?;
        Ok(m)
    }

    /// Joins under a new member id.
    fn enter(&mut self) -> Result<()> {
        self.info.id = unique_id();
        let file = open_lock(&self.group.member_path(&self.info.id))?;
        lock::hold(&file).ctx("locking member file")?;
        self.file = Some(file);
        self.seen = self.group.gen.seq().wrapping_sub(1);
        let info = self.info.clone();
        self.group.update(&self.log, true, |st| {
            st.members.push(info);
            Ok(())
        })?;
        self.watcher = Some(Watcher::spawn(self.log.clone(), self.group.clone())?);
        self.fenced = false;
        Ok(())
    }

    pub fn id(&self) -> &str {
        &self.info.id
    }

    pub fn group(&self) -> &str {
        &self.group.name
    }

    pub fn auto_commits(&self) -> bool {
        self.cfg.auto_commit.is_some()
    }

    /// True when [`Member::sync`] has something to do: a new generation, or
    /// partitions still waiting for their previous owner.
    pub fn changed(&self) -> bool {
        self.fenced || self.group.gen.seq() != self.seen || !self.pending.is_empty()
    }

    /// True when a new generation started since the last sync.
    pub fn rebalancing(&self) -> bool {
        self.group.gen.seq() != self.seen
    }

    /// Partitions this member holds now.
    pub fn owned(&self) -> impl Iterator<Item = &Tp> {
        self.owned.keys()
    }

    /// Follows the group's current assignment: gives up revoked partitions
    /// (committing `positions` first, with auto-commit) and takes assigned
    /// ones whose previous owner has let go. A fenced member joins again.
    pub fn sync(&mut self, positions: &dyn Fn(&Tp) -> Option<u64>) -> Result<Change> {
        let mut change = Change::default();
        if self.fenced {
            self.enter()?;
        }
        let seq = self.group.gen.seq();
        if seq != self.seen {
            self.seen = seq;
            let st = self.group.read_state()?;
            if !st.members.iter().any(|m| m.id == self.info.id) {
                // Reaped while alive (its lock could not be seen): join again.
                change.revoked = self.release_all(positions, false, &[]).0;
                self.enter()?;
                return Ok(change);
            }
            let target: BTreeSet<Tp> = st
                .assignment
                .get(&self.info.id)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let revoked: Vec<Tp> = self
                .owned
                .keys()
                .filter(|tp| !target.contains(*tp))
                .cloned()
                .collect();
            if !revoked.is_empty() {
                if self.cfg.auto_commit.is_some() {
                    let offsets: Vec<(Tp, u64)> = revoked
                        .iter()
                        .filter_map(|tp| positions(tp).map(|o| (tp.clone(), o)))
                        .collect();
                    self.commit(&offsets)?;
                }
                for tp in &revoked {
                    self.owned.remove(tp);
                    self.committed.remove(tp);
                }
                self.log.interrupt();
            }
            change.revoked = revoked;
            self.pending = target
                .into_iter()
                .filter(|tp| !self.owned.contains_key(tp))
                .collect();
        }
        if !self.pending.is_empty() {
            let committed = self.log.offsets()?.committed(&self.group.name)?;
            for tp in std::mem::take(&mut self.pending) {
                let file = open_lock(&self.group.owner_path(&tp))?;
                if !try_lock(&file)? {
                    self.pending.insert(tp);
                    continue;
                }
                let start = self.start(&tp, &committed)?;
                if let Some(&c) = committed.get(&tp) {
                    self.committed.insert(tp.clone(), c);
                }
                self.owned.insert(tp.clone(), file);
                change.assigned.push((tp, start));
            }
        }
        Ok(change)
    }

    fn start(&self, tp: &Tp, committed: &Committed) -> Result<u64> {
        if let Some(&c) = committed.get(tp) {
            return Ok(c);
        }
        let state = self.log.partition(&tp.0, tp.1)?;
        let state = state.state();
        Ok(match self.cfg.start_from {
            Position::Earliest => state.log_start(),
            _ => state.next_offset(),
        })
    }

    /// Commits `offsets` (the next offset to read, per partition). Refused
    /// with `Fenced` for partitions this member does not hold.
    pub fn commit(&mut self, offsets: &[(Tp, u64)]) -> Result<()> {
        if self.fenced {
            return Err(Error::new(
                Code::Fenced,
                format!(
                    "this member of group '{}' went longer than maxPollIntervalMs without asking for messages, so its partitions moved on from their last commit; ask for the next message to join again",
                    self.group.name
                ),
            ));
        }
        for (tp, offset) in offsets {
            if !self.owned.contains_key(tp) {
                return Err(Error::new(
                    Code::Fenced,
                    format!(
                        "{}/{} is not assigned to this member of group '{}' (it moved in a rebalance); its owner goes on from the last commit",
                        tp.0, tp.1, self.group.name
                    ),
                ));
            }
            let high = self.log.partition(&tp.0, tp.1)?.state().next_offset();
            if *offset > high {
                return Err(Error::new(
                    Code::OffsetOutOfRange,
                    format!(
                        "cannot commit offset {offset} for {}/{}: its high watermark is {high}",
                        tp.0, tp.1
                    ),
                ));
            }
        }
        self.log.offsets()?.commit(&self.group.name, offsets)?;
        for (tp, o) in offsets {
            self.committed.insert(tp.clone(), *o);
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Positions that moved since they were last committed.
    fn moved(&self, positions: &[(Tp, u64)]) -> Vec<(Tp, u64)> {
        positions
            .iter()
            .filter(|(tp, o)| self.owned.contains_key(tp) && self.committed.get(tp) != Some(o))
            .cloned()
            .collect()
    }

    /// With auto-commit and positions that moved: how long until they are due.
    pub fn commit_due(&self, positions: &[(Tp, u64)]) -> Option<Duration> {
        let every = self.cfg.auto_commit?;
        if self.fenced || self.moved(positions).is_empty() {
            return None;
        }
        Some(every.saturating_sub(self.last_commit.elapsed()))
    }

    /// With auto-commit, commits positions that moved once the interval has passed.
    pub fn auto_commit(&mut self, positions: &[(Tp, u64)]) -> Result<()> {
        if self.commit_due(positions) == Some(Duration::ZERO) {
            let moved = self.moved(positions);
            self.commit(&moved)?;
        }
        Ok(())
    }

    /// The group's committed offsets for the partitions this member holds.
    pub fn committed(&self) -> Result<Vec<(Tp, u64)>> {
        let all = self.log.offsets()?.committed(&self.group.name)?;
        Ok(self
            .owned
            .keys()
            .filter_map(|tp| all.get(tp).map(|&o| (tp.clone(), o)))
            .collect())
    }

    /// Lets go of every partition but those in `keep`, whose locks are handed
    /// back to the caller to drop when it is done with them.
    fn release_all(
        &mut self,
        positions: &dyn Fn(&Tp) -> Option<u64>,
        commit: bool,
        keep: &[Tp],
    ) -> (Vec<Tp>, Vec<Held>) {
        if commit && self.cfg.auto_commit.is_some() && !self.fenced {
            let offsets: Vec<(Tp, u64)> = self
                .owned
                .keys()
                .filter_map(|tp| positions(tp).map(|o| (tp.clone(), o)))
                .collect();
            // Leaving goes on even if the commit fails: the next owner replays.
            let _ = self.commit(&offsets);
        }
        self.pending.clear();
        self.committed.clear();
        let mut kept = Vec::new();
        let mut revoked = Vec::new();
        for (tp, file) in std::mem::take(&mut self.owned) {
            if keep.contains(&tp) {
                kept.push((tp.clone(), file));
            }
            revoked.push(tp);
        }
        (revoked, kept)
    }

    /// Leaves the group at once: commits (with auto-commit), lets go of
    /// membership and of every partition, so others take over now. The locks
    /// of `keep` (partitions whose messages are still being handled) are
    /// returned: their new owners start once the caller drops them.
    pub fn leave(
        &mut self,
        positions: &dyn Fn(&Tp) -> Option<u64>,
        keep: &[Tp],
    ) -> Result<(Vec<Tp>, Vec<Held>)> {
        let out = self.release_all(positions, true, keep);
        self.exit()?;
        Ok(out)
    }

    /// Gives up everything without committing, as if this member had died;
    /// its later commits fail with `Fenced`, its next sync joins again.
    pub fn fence(&mut self) -> Result<Vec<Tp>> {
        let (revoked, _) = self.release_all(&|_| None, false, &[]);
        self.exit()?;
        self.fenced = true;
        Ok(revoked)
    }

    fn exit(&mut self) -> Result<()> {
        self.watcher = None;
        if self.file.take().is_none() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.group.member_path(&self.info.id));
        let id = self.info.id.clone();
        self.group.update(&self.log, false, |st| {
            st.members.retain(|m| m.id != id);
            Ok(())
        })?;
        Ok(())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.release_all(&|_| None, false, &[]);
        let _ = self.exit();
    }
}

/// A group as `Log::groups` reports it.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    pub name: String,
    pub generation: u64,
    pub members: Vec<MemberInfo>,
    pub assignment: BTreeMap<String, Vec<Tp>>,
    /// (topic, partition) → (committed offset, high watermark).
    pub offsets: BTreeMap<Tp, (Option<u64>, u64)>,
}

/// Where `set_offsets` moves a stopped group.
pub enum ResetTo {
    Earliest,
    Latest,
    Offsets(Vec<(Tp, u64)>),
}

/// Describes a group, reaping dead members first so the list is current.
pub fn describe(log: &Log, name: &str) -> Result<GroupInfo> {
    let group = log.group_dir(name)?;
    let st = group.update(log, false, |_| Ok(()))?;
    let committed = log.offsets()?.committed(name)?;
    let mut tps: BTreeSet<Tp> = committed.keys().cloned().collect();
    tps.extend(st.assignment.values().flatten().cloned());
    let mut offsets = BTreeMap::new();
    for tp in tps {
        // Partitions of topics deleted since are left out.
        if let Ok(p) = log.partition(&tp.0, tp.1) {
            let high = p.state().next_offset();
            offsets.insert(tp.clone(), (committed.get(&tp).copied(), high));
        }
    }
    Ok(GroupInfo {
        name: name.to_string(),
        generation: st.generation,
        members: st.members,
        assignment: st.assignment,
        offsets,
    })
}

/// Moves a group's committed offsets. Refused while it has live members, and
/// done under the group lock so none can join meanwhile.
pub fn set_offsets(log: &Log, name: &str, to: ResetTo) -> Result<()> {
    let group = log.group_dir(name)?;
    group.update(log, false, |st| {
        if !st.members.is_empty() {
            let pids: Vec<String> = st.members.iter().map(|m| m.pid.to_string()).collect();
            return Err(Error::new(
                Code::GroupActive,
                format!(
                    "group '{name}' has {} live member(s) (pid {}); stop them before resetting its offsets",
                    st.members.len(),
                    pids.join(", ")
                ),
            ));
        }
        let offsets = match to {
            ResetTo::Offsets(list) => {
                for (tp, o) in &list {
                    let high = log.partition(&tp.0, tp.1)?.state().next_offset();
                    if *o > high {
                        return Err(Error::new(
                            Code::OffsetOutOfRange,
                            format!("offset {o} for {}/{} is past its high watermark {high}", tp.0, tp.1),
                        ));
                    }
                }
                list
            }
            ResetTo::Earliest | ResetTo::Latest => {
                let mut tps: BTreeSet<Tp> = log.offsets()?.committed(name)?.into_keys().collect();
                for t in &st.topics {
                    if let Ok(topic) = log.topic(t) {
                        tps.extend((0..topic.config.partitions).map(|p| (t.clone(), p)));
                    }
                }
                let mut list = Vec::new();
                for tp in tps {
                    if let Ok(p) = log.partition(&tp.0, tp.1) {
                        let s = p.state();
                        let o = match to {
                            ResetTo::Earliest => s.log_start(),
                            _ => s.next_offset(),
                        };
                        list.push((tp, o));
                    }
                }
                list
            }
        };
        log.offsets()?.commit(name, &offsets)
    })?;
    Ok(())
}

/// Names of the groups in the log directory.
pub fn list(groups: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    match std::fs::read_dir(groups) {
        Ok(entries) => {
            for e in entries {
                let name = e
                    .ctx("listing groups")?
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                if validate_name("group", &name).is_ok() {
                    names.push(name);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx("listing groups"),
    }
    names.sort();
    Ok(names)
}
