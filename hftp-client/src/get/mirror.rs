//! `mirror`: every file the server lists, into a local directory, each
//! fetched as `get` fetches it.
//!
//! HFTP tells sizes, not dates: a local file as large as the server's is
//! taken as up to date. That is the best the protocol allows, and what
//! `--help` tells the user.

use std::fs;

use anyhow::Context;
use hftp_client::{Client, FileName};
use indicatif::HumanBytes;

use super::destination::{self, Destination, DestinationError};
use super::rate::Limiter;
use super::{Transfer, download};
use crate::cli::MirrorArgs;
use crate::failure::{self, SomeFailed};
use crate::interrupt;
use crate::session::Session;

/// What became of one listed file.
enum Outcome {
    /// Fetched, this many bytes.
    Fetched(u64),
    /// Already there, and kept.
    Kept,
}

pub fn mirror(session: &mut Session, args: &MirrorArgs) -> anyhow::Result<()> {
    let listing = session.retrying(Client::listing).context("mirror")?;
    // Not failures: nothing can ask for them, from here or elsewhere.
    for line in &listing.invalid {
        eprintln!(
            "hftp: mirror: \"{}\" is listed, but is not a valid HFTP name: skipped",
            line.escape_ascii()
        );
    }
    if let Some(dir) = &args.dir {
        fs::create_dir_all(dir)
            .with_context(|| format!("mirror: cannot create the directory {}", dir.display()))?;
    }
    let limiter = args.transfer.limit_rate.map(Limiter::new);
    // An interrupted mirror's `.part`s are resumed, as `get -c` resumes
    // them (their last bytes checked against the server's first).
    let transfer = Transfer::new(session, &args.transfer, limiter.as_ref(), true);
    let (mut fetched, mut bytes, mut kept, mut failed) = (0, 0, 0, 0);
    let mut last_failure = None;
    for name in &listing.names {
        let outcome =
            mirror_one(session, name, args, &transfer).with_context(|| format!("mirror {name}"));
        match outcome {
            Ok(Outcome::Fetched(size)) => {
                fetched += 1;
                bytes += size;
            }
            Ok(Outcome::Kept) => kept += 1,
            // Ctrl-C stops the whole command.
            Err(error) if interrupt::is_set() => return Err(error),
            Err(error) => {
                eprintln!("hftp: {}", failure::message(&error, &session.server()));
                failed += 1;
                last_failure = Some(failure::exit_code(&error));
            }
        }
    }
    let mut summary = format!(
        "mirrored {fetched} file{} ({}), {kept} {}, {failed} failed",
        if fetched == 1 { "" } else { "s" },
        HumanBytes(bytes),
        if args.only_missing {
            "already there"
        } else {
            "up to date"
        },
    );
    if !listing.invalid.is_empty() {
        summary.push_str(&format!(
            ", {} skipped (not valid HFTP names)",
            listing.invalid.len()
        ));
    }
    if let Some(code) = last_failure {
        return Err(SomeFailed { summary, code }).context("mirror");
    }
    session.note(format_args!("{summary}"));
    Ok(())
}

fn mirror_one(
    session: &mut Session,
    name: &FileName,
    args: &MirrorArgs,
    transfer: &Transfer<'_>,
) -> anyhow::Result<Outcome> {
    let destination =
        destination::in_dir(args.dir.as_deref(), name).map_err(DestinationError::into_error)?;
    if args.only_missing && destination.exists() {
        return Ok(Outcome::Kept);
    }
    let size = session.retrying(|client| client.metadata(name))?;
    if let Destination::File { path, .. } = &destination
        && fs::metadata(path).is_ok_and(|local| local.len() == size)
    {
        return Ok(Outcome::Kept);
    }
    download(session, name, size, &destination, transfer)?;
    Ok(Outcome::Fetched(size))
}

/// The `mirror` command that goes on from where `args` was stopped, as
/// one types it: the same command, since it keeps what is whole and
/// resumes the rest.
pub fn resume_command(args: &MirrorArgs) -> String {
    let mut command = String::from("mirror");
    if let Some(dir) = &args.dir {
        command.push(' ');
        command.push_str(&shell_words::quote(&dir.to_string_lossy()));
    }
    if args.only_missing {
        command.push_str(" --only-missing");
    }
    command
}
