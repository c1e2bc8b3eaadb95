//! `hftp`, the command-line HFTP client. This file only parses flags and
//! wires the commands to the library; `hftp --help` is the manual.

mod address;
mod cli;
mod commands;
mod failure;
mod get;
mod interrupt;
mod session;
mod shell;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::session::Session;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let interactive =
        matches!(cli.command, Some(Command::Shell) | None) && io::stdin().is_terminal();
    // The interactive shell catches Ctrl-C once its line editor is set
    // up, which takes SIGINT over (see shell.rs).
    if !interactive && let Err(error) = interrupt::install() {
        // Ctrl-C still stops the program, only less gracefully.
        eprintln!("hftp: cannot catch Ctrl-C: {error}");
    }
    let mut session = Session::new(&cli.server);
    let result = match &cli.command {
        Some(Command::Remote(command)) => commands::run(&mut session, command),
        Some(Command::Shell) | None => return ExitCode::from(shell::run(session, interactive)),
        Some(Command::Help(args)) => {
            commands::help(&mut session, args, Cli::command(), &mut io::stdout().lock())
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(*shell, &mut Cli::command(), "hftp", &mut io::stdout());
            Ok(())
        }
        Some(Command::Check(args)) => {
            let server = cli.server.host.with_port(cli.server.port);
            return ExitCode::from(hftp_client::check::command::main(args, &server));
        }
        Some(Command::Man) => clap_mangen::Man::new(Cli::command())
            .render(&mut io::stdout())
            .map_err(anyhow::Error::from),
    };
    session.close();
    let _ = io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if failure::is_closed_stdout(&error) => ExitCode::SUCCESS,
        Err(error) if interrupt::is_set() => {
            let hint = match &cli.command {
                Some(Command::Remote(command)) => commands::resume_command(command)
                    .map(|(line, does)| format!("; `hftp {line}` {does}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            eprintln!("hftp: {error}: interrupted{hint}");
            ExitCode::from(interrupt::EXIT_CODE)
        }
        Err(error) => {
            eprintln!("hftp: {}", failure::message(&error, &session.server()));
            ExitCode::from(failure::exit_code(&error))
        }
    }
}
