//! The soak (`make soak`, `tern-soak`): many live moves of a running guest's memory in the
//! NUMA lab, with every backing, method and policy, and faults during them (cancels, pauses,
//! pins, a target node that fills up), while the guest checks every word it wrote. After
//! each move the host's own view of the guest's pages (numa_maps and a move_pages query of
//! every page, not tern's report) must show the move landed, or, for a move a fault stopped,
//! that the accounting holds and the memory policies were put back.
//!
//! The host side ([`lab`]) splits the moves over lab runs, each a fresh L1 and tern, THP and
//! 4 KiB pages taking turns, and carries `tern-soak` into L1, where it is the driver
//! ([`driver`]) of one run: it starts tern, deals the moves from a seeded [`case::Deck`],
//! makes and judges each ([`one_move`], [`fault`], [`seen`], [`verdict`]) and prints a record
//! per move and per run ([`records`]), which the host turns into `bench/results/soak.json`
//! ([`report`]).

pub mod case;
pub mod console;
pub mod driver;
pub mod fault;
pub mod lab;
pub mod one_move;
pub mod records;
pub mod report;
pub mod seen;
pub mod tern;
pub mod verdict;
pub mod vm_api;
