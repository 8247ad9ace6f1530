//! This module exists because `lazy_static` causes TSAN to
//! be very unhappy. We rely heavily on TSAN for finding
//! races, so we don't use `lazy_static`.
//!
//! Sortie's fix (see the crate's README.md): a thread that finds the value
//! being initialized by another now blocks until it is ready
//! (`std::sync::OnceLock`), where it used to spin on an atomic flag. The
//! threadpool's queue is such a value, and its initializer starts the very
//! threads that then wait for it: on two cores they spun for milliseconds,
//! taking the CPU from the thread they waited for.

use std::sync::OnceLock;

/// A lazily initialized value
pub struct Lazy<T, F> {
    value: OnceLock<T>,
    init: F,
}

impl<T, F> Lazy<T, F> {
    /// Create a new Lazy
    pub const fn new(init: F) -> Self
    where
        F: Sized,
    {
        Self { value: OnceLock::new(), init }
    }
}

impl<T, F> std::ops::Deref for Lazy<T, F>
where
    F: Fn() -> T,
{
    type Target = T;

    fn deref(&self) -> &T {
        self.value.get_or_init(|| (self.init)())
    }
}
