//! Cancelling a read in progress: a report whose client went away, or whose
//! deadline passed, stops its work in the store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Hook = Box<dyn Fn() + Send>;

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    next: AtomicU64,
    /// What to do on cancellation (e.g. interrupt a running query), by
    /// registration id.
    hooks: Mutex<Vec<(u64, Hook)>>,
}

/// A cancellation handle shared by whoever may cancel a read and the store
/// doing it. Clones are the same handle; the default is never cancelled
/// unless [`Cancel::cancel`] is called on it or a clone.
#[derive(Clone, Default)]
pub struct Cancel(Arc<Inner>);

impl Cancel {
    /// A fresh handle.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels: every registered hook runs once, and hooks registered later
    /// run at once.
    pub fn cancel(&self) {
        if self.0.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        self.run_hooks();
    }

    fn run_hooks(&self) {
        let hooks = self
            .0
            .hooks
            .lock()
            .map(|mut hooks| std::mem::take(&mut *hooks))
            .unwrap_or_default();
        for (_, hook) in hooks {
            hook();
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Runs `hook` on cancellation while the returned guard lives (at once
    /// if already cancelled).
    pub fn on_cancel(&self, hook: impl Fn() + Send + 'static) -> CancelGuard {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut hooks) = self.0.hooks.lock() {
            hooks.push((id, Box::new(hook)));
        }
        // A cancellation that happened before (or while) registering.
        if self.is_cancelled() {
            self.run_hooks();
        }
        CancelGuard {
            cancel: self.clone(),
            id,
        }
    }

    /// Refuses to go on once cancelled.
    ///
    /// # Errors
    /// [`crate::StoreErrorKind::Cancelled`] once cancelled.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(cancelled())
        } else {
            Ok(())
        }
    }
}

/// The error of a read stopped by its [`Cancel`].
pub fn cancelled() -> crate::StoreError {
    crate::StoreError::new(
        crate::StoreErrorKind::Cancelled,
        "the read was cancelled: its client went away or its deadline passed",
    )
}

/// Unregisters its hook when dropped.
pub struct CancelGuard {
    cancel: Cancel,
    id: u64,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Ok(mut hooks) = self.cancel.0.hooks.lock() {
            hooks.retain(|(id, _)| *id != self.id);
        }
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cancel(cancelled: {})", self.is_cancelled())
    }
}

/// Handles are not part of what a request means: any two compare equal.
impl PartialEq for Cancel {
    fn eq(&self, _: &Cancel) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn hooks_run_once_while_registered() {
        let cancel = Cancel::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let guard = cancel.on_cancel(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let dropped = {
            let counted = runs.clone();
            cancel.on_cancel(move || {
                counted.fetch_add(100, Ordering::SeqCst);
            })
        };
        drop(dropped);
        assert!(cancel.check().is_ok());
        cancel.clone().cancel();
        cancel.cancel();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "once, and not the dropped hook"
        );
        assert_eq!(
            cancel.check().unwrap_err().kind(),
            crate::StoreErrorKind::Cancelled
        );
        // Registering after the fact runs at once.
        let late = runs.clone();
        let _late = cancel.on_cancel(move || {
            late.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 11);
        drop(guard);
    }
}
