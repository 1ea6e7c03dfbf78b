//! SIGINT (Ctrl-C), SIGTERM (`kill`, service managers, `timeout`) and
//! SIGHUP (the terminal closed) all ask a training run to stop the same
//! way: finish the step, write a checkpoint, say how to resume, and exit
//! with 128 + the signal's number (130, 143, 129), what shells report for
//! a program a signal ended. A second signal means "now": exit at once (the
//! last checkpoint on disk is whole, every file being written atomically).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set by the first signal; the training loop checks it after every step.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// The first signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Set when the process is a server: then a signal just stops it.
static SERVING: AtomicBool = AtomicBool::new(false);

/// The signals that stop a run.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// [`install`], for `serve`: the first signal stops the server (it
/// finishes the requests in progress), a second one quits at once.
pub fn install_for_serving() {
    SERVING.store(true, Ordering::SeqCst);
    install();
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() {
    for signal in SIGNALS {
        // SAFETY: `sigaction` is given a zeroed (valid) struct with a
        // handler of the signature it expects and an emptied mask; the
        // handler does only async-signal-safe things (atomics, write, _exit).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // Interrupted reads and writes resume instead of failing.
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    if RECEIVED
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // SAFETY: _exit is async-signal-safe (exit, which runs destructors
        // and flushes, is not).
        unsafe { libc::_exit(128 + signal) };
    }
    STOP.store(true, Ordering::SeqCst);
    let message: &[u8] = match signal {
        _ if SERVING.load(Ordering::SeqCst) => b"stopping the server\n",
        libc::SIGINT => {
            b"stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n"
        }
        _ => b"stopping after this step and saving a checkpoint (send the signal again to quit now)\n",
    };
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for its length.
    unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
}

/// The first signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// The exit code of a run a signal stopped: 128 + its number (SIGINT when
/// none was received, which only a test can ask).
pub fn exit_code() -> u8 {
    (128 + received().unwrap_or(libc::SIGINT)) as u8
}

/// The received signal's name, for messages.
pub fn received_name() -> &'static str {
    match received() {
        Some(libc::SIGTERM) => "SIGTERM",
        Some(libc::SIGHUP) => "SIGHUP",
        _ => "Ctrl-C (SIGINT)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_128_plus_the_signal_number() {
        // The numbers shells and kill(1) use on Linux.
        assert_eq!((libc::SIGHUP, libc::SIGINT, libc::SIGTERM), (1, 2, 15));
        assert_eq!(received(), None);
        assert_eq!(exit_code(), 130);
    }
}
