//! Lock-free building blocks that know nothing about allocation.
//!
//! - [`bitmap`]: claim and release bits and runs of bits by CAS.
//! - [`tagged_stack`]: a Treiber stack whose head carries an ABA tag.
//! - [`remote_list`]: the multi-producer, single-consumer list of remote frees.
//!
//! Each is model-checked by a loom model in `loom-tests/`.

pub mod bitmap;
pub mod remote_list;
pub mod tagged_stack;
