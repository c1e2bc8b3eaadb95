//! `hftp`, the command-line HFTP client. This file only parses flags and
//! wires the commands to the library; `hftp --help` is the manual.

mod cli;
mod commands;
mod failure;
mod get;
mod session;
mod shell;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::session::Session;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut session = Session::new(&cli.server);
    let result = match &cli.command {
        Some(Command::Ls(args)) => commands::ls(&mut session, args, &mut io::stdout().lock()),
        Some(Command::Stat(args)) => commands::stat(&mut session, args, &mut io::stdout().lock()),
        Some(Command::Get(args)) => get::get(&mut session, args),
        Some(Command::Cat(args)) => commands::cat(&mut session, args),
        Some(Command::Shell) | None => {
            let interactive = io::stdin().is_terminal();
            return ExitCode::from(shell::run(session, interactive));
        }
    };
    session.close();
    let _ = io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if failure::is_closed_stdout(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hftp: {}", failure::message(&error, &session.server()));
            ExitCode::from(failure::exit_code(&error))
        }
    }
}
