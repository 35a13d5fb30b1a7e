//! Hash maps and sets for the planner's and checker's tables, hashed with foldhash instead
//! of the standard SipHash. Their keys are step ids, indices and node numbers taken from the
//! library the command reads: SipHash's resistance to chosen keys buys nothing there, and it
//! was a twentieth of a `plan` of 10,000 steps. Nothing iterates these tables into output,
//! so the order of their entries never shows.

use foldhash::fast::RandomState;

pub(crate) type Map<K, V> = std::collections::HashMap<K, V, RandomState>;
pub(crate) type Set<K> = std::collections::HashSet<K, RandomState>;
