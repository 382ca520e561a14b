//! The guest's console output on its way to tern's stdout.
//!
//! The UART writes each byte into a bounded [`buffer::OutputBuffer`] through a
//! [`buffer::ConsoleSink`]; that never blocks, so a guest writing to a stdout nobody reads
//! cannot stall its vCPU, the event loop or tern's exit. The [`writer::ConsoleWriter`] thread
//! writes the buffer out, optionally through the [`filter::EscapeFilter`]. Output over the
//! optional [`limit`] or beyond the buffer is dropped; [`buffer::ConsoleStats`] counts every
//! byte by what became of it.

pub mod buffer;
pub mod filter;
pub mod limit;
pub mod writer;

pub use buffer::{ConsoleSink, ConsoleStats, OutputBuffer, DEFAULT_CAPACITY};
pub use limit::LimitSettings;
pub use writer::{ConsoleWriter, WriterOptions};
