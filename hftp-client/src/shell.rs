//! `shell`: an interactive session, or a script read from stdin.

use std::cell::RefCell;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use hftp_client::Client;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};

use crate::cli::{SHELL_COMMANDS, ShellCommand, ShellLine};
use crate::failure::{self, exit};
use crate::session::Session;
use crate::{commands, interrupt};

/// How long a listing fetched for completion is reused.
const NAMES_TTL: Duration = Duration::from_secs(5);

/// What one line asked for.
enum Flow {
    Continue,
    Quit,
}

/// Runs shell commands from stdin until `quit` or the end of input.
/// Returns the exit code: 0 if every command succeeded, else the code of
/// the last one that failed.
pub fn run(session: Session, interactive: bool) -> u8 {
    let session = Rc::new(RefCell::new(session));
    let code = if interactive {
        run_interactive(&session)
    } else {
        run_script(&session)
    };
    session.borrow_mut().close();
    code
}

fn run_script(session: &Rc<RefCell<Session>>) -> u8 {
    let mut code = 0;
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                eprintln!("hftp: cannot read the script: {error}");
                return exit::LOCAL;
            }
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match run_line(&mut session.borrow_mut(), line) {
            (Flow::Quit, _) => break,
            // A script stops at Ctrl-C, as a shell script does.
            (Flow::Continue, Some(interrupt::EXIT_CODE)) => return interrupt::EXIT_CODE,
            (Flow::Continue, Some(failed)) => code = failed,
            (Flow::Continue, None) => {}
        }
    }
    code
}

fn run_interactive(session: &Rc<RefCell<Session>>) -> u8 {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(1000)
        .and_then(|builder| Ok(builder.history_ignore_dups(true)?.build()));
    let editor = config.and_then(Editor::<ShellHelper, FileHistory>::with_config);
    let mut editor = match editor {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("hftp: cannot start the line editor: {error}");
            return exit::LOCAL;
        }
    };
    take_back_sigint();
    editor.set_helper(Some(ShellHelper {
        session: Rc::clone(session),
        names: RefCell::new(None),
        files: FilenameCompleter::new(),
    }));
    let history = history_path();
    if let Some(path) = &history {
        // No history yet is fine.
        let _ = editor.load_history(path);
    }
    println!(
        "Server {}. Type `help` for the commands, `quit` to leave.",
        session.borrow().server()
    );
    let mut code = 0;
    loop {
        let prompt = format!("hftp {}> ", session.borrow().server());
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in other shells.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                eprintln!("hftp: cannot read the command: {error}");
                code = exit::LOCAL;
                break;
            }
        };
        // A paste of several lines arrives as one: run each.
        for line in line.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let _ = editor.add_history_entry(line);
            if let Some(path) = &history {
                let _ = editor.save_history(path);
            }
            match run_line(&mut session.borrow_mut(), line) {
                (Flow::Quit, _) => return code,
                (Flow::Continue, Some(failed)) => code = failed,
                (Flow::Continue, None) => {}
            }
        }
    }
    code
}

/// Runs one command line; returns whether to go on, and the exit code of
/// a failure (already reported on stderr).
fn run_line(session: &mut Session, line: &str) -> (Flow, Option<u8>) {
    interrupt::reset();
    if let Some(command) = line.strip_prefix('!') {
        return (Flow::Continue, run_local(command));
    }
    let words = match words(line) {
        Ok(words) => words,
        Err(error) => {
            eprintln!("hftp: {error}");
            return (Flow::Continue, Some(exit::USAGE));
        }
    };
    let command = match ShellLine::try_parse_from(&words) {
        Ok(parsed) => parsed.command,
        Err(error) if !error.use_stderr() => {
            // `help`, `get --help`: not errors.
            let _ = error.print();
            return (Flow::Continue, None);
        }
        Err(error) => {
            eprintln!("hftp: {}", usage_error(&error, &words));
            return (Flow::Continue, Some(exit::USAGE));
        }
    };
    let stdout = io::stdout();
    let result = match &command {
        ShellCommand::Remote(command) => commands::run(session, command),
        ShellCommand::Lcd { dir } => lcd(dir.as_ref()),
        ShellCommand::Lpwd => std::env::current_dir()
            .map(|dir| println!("{}", dir.display()))
            .map_err(|error| anyhow::Error::new(error).context("lpwd")),
        ShellCommand::Open { server } => {
            session.close();
            *session = session.elsewhere(server);
            Ok(())
        }
        ShellCommand::Help(args) => {
            let mut out = stdout.lock();
            let shell_commands = match args.command {
                Some(_) => Ok(()),
                None => write!(out, "{}", ShellLine::command().render_help())
                    .and_then(|()| writeln!(out)),
            };
            shell_commands
                .map_err(anyhow::Error::from)
                .and_then(|()| commands::help(session, args, ShellLine::command(), &mut out))
        }
        ShellCommand::Quit => return (Flow::Quit, None),
    };
    let _ = stdout.lock().flush();
    match result {
        Ok(()) => (Flow::Continue, None),
        Err(_) if interrupt::is_set() => {
            let hint = match &command {
                ShellCommand::Remote(command) => commands::resume_command(command)
                    .map(|(line, does)| format!(" `{line}` {does}."))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            eprintln!("Interrupted.{hint}");
            (Flow::Continue, Some(interrupt::EXIT_CODE))
        }
        Err(error) => {
            eprintln!("hftp: {}", failure::message(&error, &session.server()));
            (Flow::Continue, Some(failure::exit_code(&error)))
        }
    }
}

/// A line's words, split as sh splits them, with `~` at the start of a
/// word made the home directory.
fn words(line: &str) -> Result<Vec<String>, String> {
    let words = shell_words::split(line)
        .map_err(|_| "a quote is not closed: end it, or put a backslash before it".to_string())?;
    let home = std::env::var("HOME").ok();
    Ok(words
        .into_iter()
        .map(|word| match (&home, word.strip_prefix('~')) {
            (Some(home), Some(rest)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => word,
        })
        .collect())
}

/// A clap error in the shell's words: `hftp: get: ...`, without clap's
/// usage block, and pointing at `help`.
fn usage_error(error: &clap::Error, words: &[String]) -> String {
    let command = words.first().map_or("", String::as_str);
    if error.kind() == clap::error::ErrorKind::InvalidSubcommand {
        return format!("{command}: no such command; `help` lists them");
    }
    let rendered = error.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    format!("{command}: {first}; `help {command}` shows its options")
}

/// `!COMMAND`: runs COMMAND in sh, as other shells' escapes do; returns
/// the exit code of a failure.
fn run_local(command: &str) -> Option<u8> {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status();
    match status {
        Ok(status) if status.success() => None,
        // Its own messages said why.
        Ok(status) => Some(
            status
                .code()
                .and_then(|code| u8::try_from(code).ok())
                .unwrap_or(1),
        ),
        Err(error) => {
            eprintln!("hftp: !: cannot run sh: {error}");
            Some(exit::LOCAL)
        }
    }
}

fn lcd(dir: Option<&PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) => dir.clone(),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| failure::UsageError("lcd: HOME is not set; name a directory".into()))?,
    };
    std::env::set_current_dir(&dir)
        .map_err(|error| anyhow::Error::new(error).context(format!("lcd {}", dir.display())))
}

/// Rustyline catches SIGINT for as long as the editor lives, which would
/// leave Ctrl-C unable to stop a command. At the prompt the terminal is in
/// raw mode, where Ctrl-C arrives as a key, not a signal, so the editor
/// does not need the handler: put SIGINT back to its default action, then
/// catch it again our way (see `interrupt`), so that Ctrl-C during a
/// command stops that command and returns to the prompt. Without the
/// reset, our handler would chain to rustyline's, whose note of the
/// signal would surface at some later prompt.
fn take_back_sigint() {
    // SAFETY: installing the default disposition runs no code of ours in
    // a signal context; rustyline's handler is simply no longer called.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
    if let Err(error) = interrupt::install() {
        eprintln!("hftp: cannot catch Ctrl-C: {error}");
    }
}

fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HFTP_HISTORY") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".hftp_history"))
}

/// Completion of commands, remote file names and local paths.
struct ShellHelper {
    session: Rc<RefCell<Session>>,
    /// The last listing and when it was fetched.
    names: RefCell<Option<(Instant, Vec<String>)>>,
    files: FilenameCompleter,
}

impl ShellHelper {
    fn remote_names(&self) -> Vec<String> {
        let mut cache = self.names.borrow_mut();
        if let Some((fetched, names)) = cache.as_ref()
            && fetched.elapsed() < NAMES_TTL
        {
            return names.clone();
        }
        // A completion has no place to report errors: offer nothing.
        let Ok(mut session) = self.session.try_borrow_mut() else {
            return Vec::new();
        };
        let names: Vec<String> = match session.retrying(Client::list) {
            Ok(names) => names.iter().map(ToString::to_string).collect(),
            Err(_) => return Vec::new(),
        };
        *cache = Some((Instant::now(), names.clone()));
        names
    }
}

fn pairs<'a>(candidates: impl IntoIterator<Item = &'a str>, word: &str) -> Vec<Pair> {
    candidates
        .into_iter()
        .filter(|candidate| candidate.starts_with(word))
        .map(|candidate| Pair {
            display: candidate.to_string(),
            replacement: format!("{candidate} "),
        })
        .collect()
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        context: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |space| space + 1);
        let word = &before[start..];
        let previous: Vec<&str> = before[..start].split_whitespace().collect();
        let local_path = matches!(previous.last(), Some(&("-o" | "--output")))
            || matches!(previous.first(), Some(&("lcd" | "mirror")));
        if local_path {
            return self.files.complete(line, pos, context);
        }
        let candidates = match previous.first() {
            None => pairs(SHELL_COMMANDS, word),
            Some(&("get" | "stat" | "cat")) if !word.starts_with('-') => {
                let names = self.remote_names();
                pairs(names.iter().map(String::as_str), word)
            }
            _ => Vec::new(),
        };
        Ok((start, candidates))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}
