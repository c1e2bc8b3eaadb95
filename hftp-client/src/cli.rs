//! Command-line flags: the `hftp` command and the shell's commands share
//! these definitions, so `--help` is the manual in both places.

// The doc comments here are clap's help texts, shown as written: the
// `[:PORT]` of a usage form is text, not a rustdoc link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use crate::address::{self, RemoteFile, RemoteSpec, Server};
use crate::get::rate::{self, Rate};
use clap::{Args, Parser, Subcommand};
use hftp_client::SliceEncoding;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  file not found on the server (202 FILE NOT FOUND)
  2  usage error: unknown option, missing argument, invalid file name,
     binary data for a terminal without --output-binary
  3  refused by the server (any other status: 200, 201, 203, 1xx)
  4  connection failure: cannot connect, timed out, connection lost
  5  malformed reply: the server broke the protocol
  6  local failure: cannot create, write or rename a local file
  7  the file changed on the server during the download";

const ABOUT: &str = "A client for HFTP, the Home-made File Transfer Protocol";

const LONG_ABOUT: &str = "\
A client for HFTP, the Home-made File Transfer Protocol.

Lists, inspects and downloads the files of an HFTP server. With no command,
it runs the interactive shell when standard input is a terminal, and
otherwise reads shell commands from standard input, one per line (see
`hftp shell --help`).";

const AFTER_LONG_HELP: &str = "\
Examples:
  hftp ls -l                       list the files with their sizes
  hftp get report.pdf              download into ./report.pdf
  hftp get -j 4 big.iso -o /tmp    four connections in parallel
  hftp get -c big.iso              resume an interrupted download
  hftp mirror backup/              every file of the server into backup/
  hftp get --limit-rate 500K big.iso   at most 500 KiB/s
  hftp cat notes.txt --offset 100 --size 50
  echo 'ls' | hftp                 drive the shell from a script

Environment:
  HFTP_HOST, HFTP_PORT, HFTP_TIMEOUT   defaults for --host, --port, --timeout
  HFTP_HISTORY                         the shell's history file
                                       (default: ~/.hftp_history)

Errors are reported as one line on standard error, e.g.
  hftp: get foo.txt: file not found on 127.0.0.1:19500

";

/// The `hftp` command line.
#[derive(Debug, Parser)]
#[command(
    name = "hftp",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXIT_CODES,
    after_long_help = format!("{AFTER_LONG_HELP}{EXIT_CODES}"),
    // `help` is ours: it asks the server (see Command::Help).
    disable_help_subcommand = true,
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where the server is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server options")]
pub struct ServerArgs {
    /// The server: a host name or IP address, with its port if you like
    /// (HOST:PORT, [IPV6]:PORT, hftp://HOST:PORT)
    #[arg(
        short = 'H',
        long,
        env = "HFTP_HOST",
        default_value = "127.0.0.1",
        value_parser = address::parse_server,
        global = true
    )]
    pub host: Server,
    /// The server's TCP port, unless --host names one.
    #[arg(short, long, env = "HFTP_PORT", default_value_t = 19500, global = true)]
    pub port: u16,
    /// Seconds to wait for a connection or for the server's next bytes
    /// before giving up (exit code 4); 0 waits forever.
    #[arg(
        long,
        env = "HFTP_TIMEOUT",
        default_value_t = 30.0,
        value_name = "SECONDS",
        value_parser = parse_seconds,
        global = true
    )]
    pub timeout: f64,
    /// Ask for slices as raw bytes only (the 2026 kit's `get_slice ...
    /// raw`), even from a server that refuses them. By default slices are
    /// raw, and base64 from a server that answers a raw slice with 201
    #[arg(long, global = true, conflicts_with = "base64")]
    pub raw: bool,
    /// Ask for slices in base64 only, as every year's kit knows them
    #[arg(long, global = true)]
    pub base64: bool,
    /// After a connection failure (cannot connect, timed out, connection
    /// lost), try again up to N times in a row, waiting longer each time;
    /// a download resumes from the bytes it already has. A try that
    /// received bytes starts the count again
    #[arg(long, value_name = "N", default_value_t = 0, global = true)]
    pub retry: u32,
    /// Print nothing but errors and what was asked for: no progress bar,
    /// no notes (resuming, retrying, summaries)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print the exchange with the server on standard error, in the
    /// course's transcript form (`C: get_metadata a.txt`, `S: 0 OK`)
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The wait before the first retry; each next one waits twice as
    /// long, up to 10 seconds
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0.5,
        value_parser = parse_seconds,
        global = true
    )]
    pub retry_delay: f64,
}

impl ServerArgs {
    /// How slices are asked for, as --raw and --base64 say.
    pub fn slice_encoding(&self) -> SliceEncoding {
        match (self.raw, self.base64) {
            (true, _) => SliceEncoding::Raw,
            (_, true) => SliceEncoding::Base64,
            _ => SliceEncoding::Auto,
        }
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..1e9).contains(&seconds) => Ok(seconds),
        _ => Err("expected a number of seconds, 0 or more".to_string()),
    }
}

/// The commands on the server's files: the same in `hftp` and in its
/// shell, declared and run once (see `commands::run`).
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// List the server's files (sorted by name)
    Ls(LsArgs),
    /// Print the size of a file, in bytes
    Stat(StatArgs),
    /// Download files (also `mget`)
    #[command(long_about = GET_LONG_ABOUT, visible_alias = "mget")]
    Get(GetArgs),
    /// Download every file the server lists into a directory
    #[command(long_about = MIRROR_LONG_ABOUT)]
    Mirror(MirrorArgs),
    /// Write a file, or part of it, to standard output
    Cat(CatArgs),
}

/// What `hftp` does.
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Remote(RemoteCommand),
    /// Run an interactive session (the default on a terminal)
    #[command(long_about = SHELL_LONG_ABOUT)]
    Shell,
    /// Print the commands the server knows (its `help`), or the options
    /// of one of hftp's commands
    Help(HelpArgs),
    /// Print a completion script for SHELL, e.g.
    /// `hftp completions bash > /etc/bash_completion.d/hftp`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `hftp man | man -l -`
    Man,
    /// Check a server against HFTP.md: a numbered catalogue of cases
    #[command(long_about = hftp_client::check::command::LONG_ABOUT)]
    Check(hftp_client::check::command::CheckArgs),
}

const GET_LONG_ABOUT: &str = "\
Download files.

Each file is downloaded into NAME.part beside its destination; only once
the size received equals the size the server announced is it renamed to
its final name, so an interrupted download never leaves a wrong file under
that name. An existing file of that name is replaced; a symbolic link is
followed, and the file it names is replaced. Anything that is not a
regular file (/dev/null, a FIFO, a terminal) is written straight through,
never replaced, and so is standard output with `-o -`. Every destination
is checked before anything is fetched.

Large files are fetched in pieces of at most 64 MiB, so progress is shown
and resuming is possible at a fine grain. A progress bar (bytes, rate, time
left) is drawn on standard error when it is a terminal.

Several files are downloaded one after the other. A file that fails is
reported on its own line and the others are still downloaded; a last line
says how many failed, and the exit code is that of the last failure.
Ctrl-C stops them all.

With `-o -` on a terminal, data that looks binary (a NUL byte, or bytes
that are not UTF-8, at its start) is refused before any of it is written,
as curl does: save it with `-o FILE`, pipe or redirect it, or write it
anyway with --output-binary.";

const MIRROR_LONG_ABOUT: &str = "\
Download every file the server lists into a directory (default: the
current directory, or the shell's after `lcd`), as `lftp mirror` does. The
server's directory is flat: there are no subdirectories to walk.

HFTP tells a file's size but not its date or a checksum, so a file that
changed on the server but kept its size cannot be told apart: a local
file as large as the server's is taken as up to date and kept; any other
is fetched again and replaced, through NAME.part as `get` does. With
--only-missing, every file already there is kept, whatever its size. A
NAME.part left by an interrupted mirror is resumed, as `get -c` resumes it.

A listed name that HFTP cannot request (a space, a slash, ...) is reported
and skipped. A file that fails is reported on its own line and the others
are still fetched. A last line sums up: `mirrored N files (SIZE), K up to
date, F failed`; the exit code is 0 when none failed, else that of the
last failure.";

const SHELL_LONG_ABOUT: &str = "\
Run an interactive session.

Commands: ls [-l], stat FILE, get FILE... [-o PATH] [-c] [-j N],
mirror [DIR] [--only-missing], cat FILE [--offset O] [--size S],
lcd [DIR], lpwd, open HOST[:PORT],
!COMMAND (runs COMMAND in sh), help [COMMAND], quit (or exit).
They take the same options as the hftp commands of the same name; `help
get` shows them. Words are split as sh splits them: quote a word with
spaces ('my dir', \"my dir\" or my\\ dir), and ~ at the start of a
word is your home directory.

Ctrl-C stops the running command and returns to the prompt; `get -c`
resumes an interrupted download.

On a terminal the shell has line editing, history (HFTP_HISTORY, default
~/.hftp_history) and tab completion of commands and remote file names.
When standard input is not a terminal it reads one command per line with
no prompt, so scripts can drive it; empty lines and lines starting with #
are skipped.

A failed command prints its error and the shell goes on; a lost connection
is opened again by the next command. At the end of its input the shell
exits with 0 if every command succeeded, else with the exit code of the
last one that failed.";

/// Options of `help`.
#[derive(Debug, Clone, Args)]
pub struct HelpArgs {
    /// One of hftp's commands: print its options instead of asking the
    /// server
    pub command: Option<String>,
}

/// Options of `ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Also print each file's size in bytes
    #[arg(short, long)]
    pub long: bool,
}

/// Options of `stat`.
#[derive(Debug, Clone, Args)]
pub struct StatArgs {
    /// The remote file: NAME, or hftp://HOST[:PORT]/NAME
    #[arg(value_parser = address::parse_remote_file)]
    pub file: RemoteFile,
}

/// Options of `get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The remote files to download: NAME, or hftp://HOST[:PORT]/NAME; a
    /// NAME with `*`, `?` or `[...]` is a glob over the server's listing
    /// (quote it from your shell)
    #[arg(required = true, value_name = "FILE", value_parser = address::parse_remote_spec)]
    pub files: Vec<RemoteSpec>,
    /// Where to save: a directory, or (for a single file) the file's new
    /// path. With several files it must be an existing directory.
    /// Default: the current directory.
    /// `-` is standard output; a PATH ending in / is a directory.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Create the directories -o names if they are missing
    #[arg(long)]
    pub create_dirs: bool,
    /// Skip a file whose destination already exists, rather than replace it
    #[arg(short = 'n', long, conflicts_with = "resume")]
    pub no_clobber: bool,
    /// Resume from an existing NAME.part: fetch only the bytes it lacks
    /// (each segment's, after a parallel download). Its last 64 KiB are
    /// first compared with the server's file; if they differ (the file
    /// changed), the download starts over. With no NAME.part, download;
    /// if NAME is already the whole file, say so and succeed
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Write to standard output (`-o -`) even when it is a terminal and
    /// the data looks binary (a NUL byte, or not UTF-8, in its first
    /// bytes), which is otherwise refused: binary output can mess up a
    /// terminal
    #[arg(long)]
    pub output_binary: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// How `get` and `mirror` transfer each file.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Split each file into N segments, fetched over N connections in
    /// parallel and written at their offsets
    #[arg(
        short = 'j',
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=64)
    )]
    pub parallel: u16,
    /// Receive at most RATE bytes per second, all connections of -j
    /// together: a number with K, M or G for 1024, 1024² or 1024³ (500K,
    /// 2M, 1.5G), as curl and wget take it
    #[arg(long, value_name = "RATE", value_parser = rate::parse_rate)]
    pub limit_rate: Option<Rate>,
}

/// Options of `mirror`.
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// The local directory to fill, created if missing. Default: the
    /// current directory
    pub dir: Option<PathBuf>,
    /// Fetch only the files that are not in DIR yet; keep every file that
    /// is, whatever its size
    #[arg(long)]
    pub only_missing: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// Options of `cat`.
#[derive(Debug, Clone, Args)]
pub struct CatArgs {
    /// The remote file: NAME, or hftp://HOST[:PORT]/NAME
    #[arg(value_parser = address::parse_remote_file)]
    pub file: RemoteFile,
    /// The first byte to write
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    pub offset: u64,
    /// How many bytes to write (default: up to the end of the file)
    #[arg(long, value_name = "BYTES")]
    pub size: Option<u64>,
}

/// One line of the shell.
#[derive(Debug, Parser)]
#[command(
    name = "",
    no_binary_name = true,
    disable_version_flag = true,
    help_template = "{all-args}",
    subcommand_value_name = "COMMAND",
    // `help` is ours: it asks the server too (see ShellCommand::Help).
    disable_help_subcommand = true
)]
pub struct ShellLine {
    #[command(subcommand)]
    pub command: ShellCommand,
}

/// The shell's commands.
#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "one command of a line, parsed and run once"
)]
pub enum ShellCommand {
    #[command(flatten)]
    Remote(RemoteCommand),
    /// Change the local directory downloads go to
    Lcd {
        /// The new directory (default: your home directory)
        dir: Option<PathBuf>,
    },
    /// Print the local directory
    Lpwd,
    /// Talk to another server from now on
    Open {
        /// HOST, HOST:PORT, [IPV6]:PORT or hftp://HOST[:PORT]
        #[arg(value_parser = address::parse_server)]
        server: Server,
    },
    /// Print the shell's commands and the server's (its `help`), or the
    /// options of one command
    Help(HelpArgs),
    /// Close the connection and leave the shell
    #[command(visible_alias = "exit")]
    Quit,
}

/// The shell's command names, for completion.
pub const SHELL_COMMANDS: [&str; 12] = [
    "cat", "exit", "get", "help", "lcd", "lpwd", "ls", "mget", "mirror", "open", "quit", "stat",
];

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
        ShellLine::command().debug_assert();
    }

    #[test]
    fn the_completion_list_names_every_shell_command() {
        let command = ShellLine::command();
        let mut names: Vec<&str> = command
            .get_subcommands()
            .flat_map(|sub| std::iter::once(sub.get_name()).chain(sub.get_all_aliases()))
            .collect();
        names.sort_unstable();
        assert_eq!(names, SHELL_COMMANDS);
    }
}
