//! Ctrl-C stops the running command, not the program.
//!
//! SIGINT is caught by a thread of its own (signal-hook), which marks the
//! command interrupted and shuts down every open connection, so that a
//! call blocked on a silent server returns at once instead of after the
//! timeout. The command then fails as after a lost connection; whoever
//! runs it asks [`is_set`] to report an interruption instead.

use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hftp_client::{AbortHandle, Client};
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

/// The exit code of a command that Ctrl-C stopped: 128 + SIGINT, as a
/// shell reports a program that SIGINT ended.
pub const EXIT_CODE: u8 = 130;

struct State {
    interrupted: bool,
    next_id: u64,
    /// The connections open now, by the id of their [`Watch`].
    connections: Vec<(u64, AbortHandle)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    interrupted: false,
    next_id: 0,
    connections: Vec::new(),
});

/// Told of every Ctrl-C, for [`wait`].
static PRESSED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    // Nothing is left half-done under the lock: a panic elsewhere does not
    // make the state wrong.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Catches SIGINT from now on, for the life of the process.
pub fn install() -> io::Result<()> {
    let mut signals = Signals::new([SIGINT])?;
    std::thread::Builder::new()
        .name("ctrl-c".to_string())
        .spawn(move || {
            for _ in signals.forever() {
                interrupt();
            }
        })?;
    Ok(())
}

/// What Ctrl-C does.
fn interrupt() {
    let mut state = state();
    state.interrupted = true;
    for (_, connection) in &state.connections {
        connection.abort();
    }
    PRESSED.notify_all();
}

/// Waits for `duration`, or less if Ctrl-C is pressed meanwhile (or was
/// since the last [`reset`]); returns whether it was.
pub fn wait(duration: Duration) -> bool {
    let state = state();
    let (state, _) = PRESSED
        .wait_timeout_while(state, duration, |state| !state.interrupted)
        .unwrap_or_else(PoisonError::into_inner);
    state.interrupted
}

/// Whether Ctrl-C was pressed since the last [`reset`].
pub fn is_set() -> bool {
    state().interrupted
}

/// Forgets an earlier Ctrl-C: a new command starts.
pub fn reset() {
    state().interrupted = false;
}

/// A connection that Ctrl-C shuts down, for as long as this lives.
#[derive(Debug)]
pub struct Watch {
    id: u64,
}

/// Puts `client` under watch. Without a handle (the system refused to
/// duplicate the socket) Ctrl-C cannot cut it short; the connection's
/// timeout still bounds the wait.
pub fn watch(client: &Client) -> Watch {
    let mut state = state();
    let id = state.next_id;
    state.next_id += 1;
    if let Ok(handle) = client.abort_handle() {
        if state.interrupted {
            handle.abort();
        }
        state.connections.push((id, handle));
    }
    Watch { id }
}

impl Drop for Watch {
    fn drop(&mut self) {
        state().connections.retain(|(id, _)| *id != self.id);
    }
}
