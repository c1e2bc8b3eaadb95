//! The commands on the server's files, run alike from `hftp` and its
//! shell; `ls`, `stat`, `cat` and `help` themselves.

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use hftp_client::{Client, Error, FileName, Status};

use crate::cli::{CatArgs, HelpArgs, LsArgs, RemoteCommand, StatArgs};
use crate::failure::UsageError;
use crate::get;
use crate::interrupt;
use crate::session::{Connector, Session, is_transient};

/// The most bytes asked for in one `get_slice`: big slices are fetched in
/// pieces, so that a download can be resumed and shows progress at a fine
/// grain, and a lost connection costs little.
pub const PIECE_LEN: u64 = 64 * 1024 * 1024;

/// Runs one of the commands on the server's files.
pub fn run(session: &mut Session, command: &RemoteCommand) -> anyhow::Result<()> {
    match command {
        RemoteCommand::Ls(args) => ls(session, args, &mut io::stdout().lock()),
        RemoteCommand::Stat(args) => stat(session, args, &mut io::stdout().lock()),
        RemoteCommand::Get(args) => get::get(session, args),
        RemoteCommand::Mirror(args) => get::mirror(session, args),
        RemoteCommand::Cat(args) => cat(session, args),
    }
}

/// For a command Ctrl-C stopped: the command line that takes it up again
/// and what that does, if there is one.
pub fn resume_command(command: &RemoteCommand) -> Option<(String, &'static str)> {
    match command {
        RemoteCommand::Get(args) => Some((get::resume_command(args), "resumes the download")),
        RemoteCommand::Mirror(args) => Some((get::mirror::resume_command(args), "goes on")),
        _ => None,
    }
}

pub fn ls(session: &mut Session, args: &LsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let listing = session.retrying(Client::listing).context("ls")?;
    // On stderr, so that what stdout lists can all be asked for.
    for line in &listing.invalid {
        eprintln!(
            "hftp: ls: \"{}\" is listed, but is not a valid HFTP name: it cannot be requested",
            line.escape_ascii()
        );
    }
    let names = listing.names;
    if !args.long {
        for name in &names {
            writeln!(out, "{name}")?;
        }
        return Ok(());
    }
    let sizes = session.client().context("ls")?.metadata_many(&names);
    let mut lines = Vec::with_capacity(names.len());
    for (name, size) in names.iter().zip(sizes) {
        match size {
            Ok(size) => lines.push((size.to_string(), name)),
            // Deleted between the listing and now: still worth a line.
            Err(Error::Refused(_)) => lines.push(("?".to_string(), name)),
            Err(error) => return Err(error).context(format!("ls: {name}")),
        }
    }
    let width = lines.iter().map(|(size, _)| size.len()).max().unwrap_or(0);
    for (size, name) in lines {
        writeln!(out, "{size:>width$}  {name}")?;
    }
    Ok(())
}

pub fn stat(session: &mut Session, args: &StatArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut others = Vec::new();
    let session = session.pick(args.file.server.as_ref(), &mut others);
    let size = session
        .retrying(|client| client.metadata(&args.file.name))
        .with_context(|| format!("stat {}", args.file))?;
    writeln!(out, "{size}")?;
    Ok(())
}

pub fn cat(session: &mut Session, args: &CatArgs) -> anyhow::Result<()> {
    let mut others = Vec::new();
    let session = session.pick(args.file.server.as_ref(), &mut others);
    let name = &args.file.name;
    let context = || format!("cat {}", args.file);
    let size = match args.size {
        Some(size) => size,
        None => {
            let file_size = session
                .retrying(|client| client.metadata(name))
                .with_context(context)?;
            if args.offset > file_size {
                // Ask anyway: the server's 203 says what is wrong.
                let client = session.client().with_context(context)?;
                let mut nothing = io::sink();
                client
                    .slice(name, args.offset, 0, &mut nothing)
                    .with_context(context)?;
            }
            file_size.saturating_sub(args.offset)
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let result = fetch(session, name, args.offset, size, &mut out)
        .and_then(|()| out.flush().map_err(Error::Write));
    match result {
        // A reader that stopped early (`| head`) is not a failure.
        Err(Error::Write(error)) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result.with_context(context),
    }
}

/// Writes `size` bytes of `name` from `offset` to `out`, in pieces of at
/// most [`PIECE_LEN`]. A zero `size` asks for nothing: some servers
/// refuse a zero-length slice, and there is nothing to fetch.
///
/// A connection lost on the way is opened again as `--retry` allows, and
/// the fetch goes on from the bytes `out` has taken: `out` must keep
/// them, in order (what it has taken counts as received).
pub fn fetch(
    connector: &mut impl Connector,
    name: &FileName,
    offset: u64,
    size: u64,
    out: &mut impl Write,
) -> Result<(), Error> {
    let end = offset.saturating_add(size);
    let mut position = offset;
    let mut failures = 0;
    while position < end {
        let piece = (end - position).min(PIECE_LEN);
        let mut counted = Counted {
            inner: &mut *out,
            taken: 0,
        };
        let result = connector
            .client()
            .and_then(|client| client.slice(name, position, piece, &mut counted));
        position += counted.taken;
        match result {
            Ok(_) => failures = 0,
            Err(error) if is_transient(&error) && !interrupt::is_set() => {
                // Bytes came: the link works, only not for long.
                if counted.taken > 0 {
                    failures = 0;
                }
                failures += 1;
                connector.session().back_off(failures, error, Some(name))?;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Counts the bytes a writer took.
struct Counted<W> {
    inner: W,
    taken: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.taken += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `help`: the commands the server knows, or, given one of `commands`'
/// subcommands, its options.
pub fn help(
    session: &mut Session,
    args: &HelpArgs,
    mut commands: clap::Command,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(name) = &args.command {
        let Some(command) = commands.find_subcommand_mut(name) else {
            return Err(
                UsageError(format!("help: no such command {name:?}; `help` lists them")).into(),
            );
        };
        write!(out, "{}", command.render_long_help())?;
        return Ok(());
    }
    match session.retrying(Client::help) {
        Ok(names) => {
            writeln!(out, "Commands of {} (its `help`):", session.server())?;
            for name in names {
                writeln!(out, "  {name}")?;
            }
        }
        // The answer of every server older than the 2026 kit: not a
        // failure, but what `help` found out.
        Err(Error::Refused(Status::NoSuchCommand)) => writeln!(
            out,
            "{} has no `help` command (it answered {}, as servers older than the \
             2026 kit do)",
            session.server(),
            Status::NoSuchCommand
        )?,
        Err(error) => return Err(error).context("help"),
    }
    Ok(())
}
