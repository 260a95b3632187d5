//! Post-mortem reports of tasks that panicked or failed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything known about a task that panicked or failed: the remote traceback.
///
/// It reaches whoever joins the task ([`JoinError::Failed`](crate::JoinError::Failed)). It is
/// plain data (`Serialize`), so it can travel to a joiner on another node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskReport {
    /// The node the task was running on.
    pub node: String,
    /// The task's id.
    pub task: String,
    /// The task type key of the task's root frame.
    pub task_type: String,
    /// The source location of the task's last suspension point, if it had suspended.
    pub suspension_point: Option<SourceLocation>,
    /// The frame stack, outermost first, each with its live state.
    pub frames: Vec<FrameReport>,
    /// The panic, when the task panicked.
    pub panic: Option<PanicReport>,
}

/// One frame of a failed task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FrameReport {
    /// The frame's machine type key.
    pub task_type: String,
    /// The machine's state, formatted with `{:#?}`.
    pub state: String,
}

/// A panic inside a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PanicReport {
    /// The panic message (the payload when it was a string).
    pub message: String,
    /// Where the panic happened, when the panic hook could tell.
    pub location: Option<SourceLocation>,
}

/// A file:line:column in the program's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The source file.
    pub file: String,
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
}

impl From<&std::panic::Location<'_>> for SourceLocation {
    fn from(l: &std::panic::Location<'_>) -> Self {
        SourceLocation {
            file: l.file().to_owned(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl fmt::Display for TaskReport {
    /// Formats the report the way a debugger shows a traceback.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "task {} ({}) failed on node {:?}",
            self.task, self.task_type, self.node
        )?;
        if let Some(p) = &self.panic {
            match &p.location {
                Some(l) => writeln!(f, "  panicked at {l}: {}", p.message)?,
                None => writeln!(f, "  panicked: {}", p.message)?,
            }
        }
        if let Some(l) = &self.suspension_point {
            writeln!(f, "  last suspension point: {l}")?;
        }
        writeln!(f, "  frames (innermost last):")?;
        for (i, frame) in self.frames.iter().enumerate() {
            writeln!(f, "    #{i} {}", frame.task_type)?;
            for line in frame.state.lines() {
                writeln!(f, "         {line}")?;
            }
        }
        Ok(())
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<SourceLocation>> = const { std::cell::RefCell::new(None) };
}

/// Installs (once per process) a panic hook that remembers where the last panic on each thread
/// happened, then calls the hook that was there before.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info.location().map(SourceLocation::from);
            LAST_PANIC.with(|l| *l.borrow_mut() = loc);
            previous(info);
        }));
    });
}

/// The location of the last panic on this thread, taken.
pub(crate) fn take_panic_location() -> Option<SourceLocation> {
    LAST_PANIC.with(|l| l.borrow_mut().take())
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
