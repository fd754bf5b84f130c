//! Consumer groups without a broker, on the files of `<dir>/groups/<group>/`
//! (see `layout`): a lock taken while the state changes, `state.json`
//! (generation, members, assignment), the `gen` wake-up word bumped on every
//! new generation, one locked file per member, and one owners file per topic
//! whose byte `p` is locked by the member owning partition `p`.
//!
//! Liveness is the process: the kernel drops a dead member's locks. Each
//! member's watcher thread holds a pidfd per other member's process and
//! reaps the group as soon as one exits; nothing is taken over by timeout.
//! A member consumes a partition only while it holds its owner lock, so two
//! live members never consume one partition at once.

mod admin;
mod assignor;
mod commit;
mod member;
mod state;
mod watcher;

pub use admin::{delete_group, describe_group, list_groups, set_group_offsets, GroupInfo, ResetTo};
pub use assignor::{Assignor, Tp};
pub(crate) use commit::commit_held;
pub(crate) use member::unique_id;
pub use member::{Change, Config, Held, Member};
pub use state::MemberInfo;
