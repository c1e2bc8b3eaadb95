//! `hftp check` against our own server (both engines), and against broken
//! servers that each fail exactly the cases they should: together they
//! fail every case of the catalogue, so every case is shown able to fail.
//!
//! The broken servers are our real server behind an in-process proxy
//! that breaks one rule (see [`Quirks`]): what passes through unchanged
//! is served correctly, so a case fails only because of the quirk.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hftp_client::check::{Config, Kit, Outcome, Report, catalogue, run, run_cases};

use crate::util::{RealServer, hftp_anywhere};

/// The workspace's `hftp-server`, quiet, with extra flags (an engine, a
/// pool size), on an ephemeral port; killed on drop.
fn quiet_server(dir: &Path, flags: &[&str]) -> RealServer {
    RealServer::start_with(dir, &[&["-q"], flags].concat())
}

fn config(addr: SocketAddr, dir: &Path, kit: Kit, seconds: u64) -> Config {
    Config {
        addr,
        datadir: Some(dir.to_path_buf()),
        kit,
        jobs: 8,
        timeout: Duration::from_secs(seconds),
        stop: None,
    }
}

fn failed(report: &Report) -> BTreeSet<String> {
    report.failed().map(|result| result.id.clone()).collect()
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|id| id.to_string()).collect()
}

#[track_caller]
fn assert_all_pass(report: &Report) {
    assert!(report.passed(), "{}", report.text());
    let skipped: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.id.as_str())
        .collect();
    assert!(skipped.is_empty(), "skipped {skipped:?}");
}

#[test]
fn our_server_passes_every_case_with_the_events_engine() {
    let dir = tempfile::tempdir().expect("a served directory");
    let server = quiet_server(dir.path(), &["--engine", "events"]);
    assert_all_pass(&run(&config(server.addr, dir.path(), Kit::K2026, 30)).expect("a run"));
    // The check removed what it created.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the directory")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The threads engine serves as many clients at once as it has workers:
/// with its default 256, more than the check's 100 idle clients, it
/// passes everything.
#[test]
fn our_server_passes_every_case_with_the_threads_engine() {
    let dir = tempfile::tempdir().expect("a served directory");
    let server = quiet_server(dir.path(), &["--engine", "threads"]);
    assert_all_pass(&run(&config(server.addr, dir.path(), Kit::K2026, 30)).expect("a run"));
}

/// With fewer workers than idle clients, the threads engine makes the
/// next client wait: exactly the two load cases fail, as HFTP.md's last
/// rule says such a server does.
#[test]
fn the_threads_engine_with_a_small_pool_fails_the_load_cases() {
    let dir = tempfile::tempdir().expect("a served directory");
    let server = quiet_server(dir.path(), &["--engine", "threads", "--workers", "8"]);
    let cases: Vec<_> = catalogue()
        .into_iter()
        .filter(|case| ["7/3", "7/4", "7/6", "2/1"].contains(&case.id.as_str()))
        .collect();
    let report = run_cases(&config(server.addr, dir.path(), Kit::K2026, 3), &cases).expect("a run");
    assert_eq!(failed(&report), ids(&["7/3", "7/6"]), "{}", report.text());
}

#[test]
fn without_a_datadir_only_file_less_cases_run_and_the_rest_say_why() {
    let dir = tempfile::tempdir().expect("a served directory");
    let server = quiet_server(dir.path(), &[]);
    let report = run(&Config {
        datadir: None,
        ..config(server.addr, dir.path(), Kit::K2026, 30)
    })
    .expect("a run");
    assert!(report.passed(), "{}", report.text());
    for (result, case) in report.results.iter().zip(catalogue()) {
        match &result.outcome {
            Outcome::Skipped(why) => {
                assert!(case.needs_files, "{} skipped: {why}", case.id);
                assert!(why.contains("--datadir"), "{why}");
            }
            _ => assert!(!case.needs_files, "{} ran", case.id),
        }
    }
    let text = report.text();
    assert!(
        text.contains("- 4.2/1 the size of a file, in decimal (skipped: needs its files"),
        "{text}"
    );
}

#[test]
fn the_command_prints_the_report_writes_json_and_junit_and_exits_0() {
    let dir = tempfile::tempdir().expect("a served directory");
    let out = tempfile::tempdir().expect("a directory for the reports");
    let server = quiet_server(dir.path(), &[]);
    let output = hftp_anywhere(out.path())
        .arg("check")
        .arg(server.addr.to_string())
        .arg("--datadir")
        .arg(dir.path())
        .args(["--json", "report.json", "--junit", "report.xml", "-j", "4"])
        .output()
        .expect("hftp check runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("\n4.3 get_slice FILENAME OFFSET SIZE\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ✔ 4.3/4 OFFSET+SIZE beyond the file is 203\n"),
        "{stdout}"
    );
    assert!(stdout.contains(" passed, 0 failed, 0 skipped"), "{stdout}");
    let json = std::fs::read_to_string(out.path().join("report.json")).expect("the JSON report");
    assert!(json.contains("\"passed\": true"), "{json}");
    assert!(
        json.contains("{\"id\": \"4.3/4\", \"section\": \"4.3 get_slice FILENAME OFFSET SIZE\""),
        "{json}"
    );
    let junit = std::fs::read_to_string(out.path().join("report.xml")).expect("the JUnit report");
    assert!(junit.contains("failures=\"0\""), "{junit}");
    assert!(
        junit.contains("name=\"4.3/4 OFFSET+SIZE beyond the file is 203\""),
        "{junit}"
    );
}

#[test]
fn the_command_exits_1_and_shows_the_bytes_when_a_case_fails() {
    let dir = tempfile::tempdir().expect("a served directory");
    let server = quiet_server(dir.path(), &[]);
    let proxy = Proxy::start(
        server.addr,
        Quirks {
            quit_last: true,
            ..Quirks::default()
        },
    );
    let output = hftp_anywhere(dir.path())
        .args([
            "check",
            &proxy.addr.to_string(),
            "--kit",
            "2025",
            "--case-timeout",
            "5",
        ])
        .output()
        .expect("hftp check runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "  ✘ 4.6/2 a request behind quit in the same write is ignored\n\
             \x20     sent:     \"quit\\r\\nget_metadata hftp-check-absent\\r\\n\"\n\
             \x20     expected: \"0 OK\\r\\n\"\n\
             \x20     got:      \"202 FILE NOT FOUND\\r\\n0 OK\\r\\n\"\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Failed: 4.6/2, 4.6/3\n"), "{stdout}");
}

mod proxy;
mod rewrites;
mod wireshark;

use proxy::{Proxy, Quirks};
use rewrites::*;

/// A broken server, and what it must fail.
struct Broken {
    name: &'static str,
    quirks: Quirks,
    /// Flags of the real server behind the proxy.
    flags: &'static [&'static str],
    /// The cases to run, when not all: a server that stops serving, or
    /// serves one client at a time, would fail the others by chance.
    only: &'static [&'static str],
    /// Cases left out because against this server their outcome depends
    /// on how the network groups bytes into reads.
    not: &'static [&'static str],
    /// The cases it must fail, with `--kit 2026`.
    fails: &'static [&'static str],
}

fn broken(name: &'static str, quirks: Quirks, fails: &'static [&'static str]) -> Broken {
    Broken {
        name,
        quirks,
        flags: &[],
        only: &[],
        not: &[],
        fails,
    }
}

fn broken_servers() -> Vec<Broken> {
    let q = Quirks::default;
    vec![
        broken(
            "closes late after a fatal status",
            Quirks {
                close_late: true,
                ..q()
            },
            &[
                "2/8", "2/9", "2/10", "2/11", "2/12", "2/13", "2/14", "2/15", "2/16", "2/17",
                "2/19", "2/21", "3/1", "3/2", "3/3", "3/4", "3/9", "4.2/12", "4.3/24", "4.4/13",
                "4.6/1", "4.6/2", "4.6/3", "4.6/4", "4.6/6", "6/1", "6/2", "6/3", "6/4", "6/5",
                "6/12", "6/14", "6/17", "6/18",
            ],
        ),
        broken(
            "answers a bare LF only at a CRLF",
            Quirks {
                bare_lf_at_crlf: true,
                ..q()
            },
            &["2/14", "2/15", "6/2"],
        ),
        // Pipelined requests sent a byte per write may reach it one by one.
        Broken {
            not: &["2/21"],
            ..broken(
                "no pipelining",
                Quirks {
                    no_pipelining: true,
                    ..q()
                },
                &["2/4", "2/5", "3/3", "4.4/4", "4.6/6", "7/7"],
            )
        },
        broken(
            "200 before 101",
            Quirks {
                requests: Some(command_first),
                ..q()
            },
            &[
                "2/8", "2/13", "2/16", "2/17", "3/2", "3/3", "6/3", "6/4", "6/5", "6/14",
            ],
        ),
        broken(
            "a 2025 server",
            Quirks {
                requests: Some(kit_2025),
                ..q()
            },
            &[
                "2/16", "2/17", "3/4", "3/9", "4.2/12", "4.3/24", "4.4/1", "4.4/2", "4.4/3",
                "4.4/4", "4.4/9", "4.4/10", "4.4/11", "4.4/12", "4.4/13", "4.5/1", "4.5/2", "6/12",
                "6/14", "7/9",
            ],
        ),
        Broken {
            only: &[
                "7/1", "7/2", "7/3", "7/4", "7/5", "7/6", "7/7", "7/8", "7/9", "2/1", "4.3/1",
            ],
            ..broken(
                "one connection at a time",
                Quirks {
                    one_at_a_time: true,
                    ..q()
                },
                &["7/3", "7/4", "7/5", "7/6"],
            )
        },
        Broken {
            only: &["7/1", "7/2", "7/9", "2/1", "4.3/1"],
            ..broken(
                "one connection at a time, and it dies with a client that vanishes",
                Quirks {
                    one_at_a_time: true,
                    fragile: true,
                    ..q()
                },
                &["7/1", "7/2", "7/9"],
            )
        },
        broken(
            "serves a link out of the directory",
            Quirks {
                requests: Some(follow_links),
                replies: LINK_OUT_LISTED,
                ..q()
            },
            &["4.1/7", "4.2/9", "4.3/26"],
        ),
        Broken {
            flags: &["--hidden"],
            ..broken(
                "serves hidden files",
                q(),
                &["4.1/1", "4.1/5", "4.2/7", "4.3/27"],
            )
        },
        broken(
            "serves directories",
            Quirks {
                requests: Some(serve_dirs),
                replies: DIR_LISTED,
                ..q()
            },
            &["4.1/4", "4.2/6", "4.3/23", "5/6", "5/7"],
        ),
        broken(
            "a 1 MiB line limit, closing",
            Quirks {
                max_line: Some(1 << 20),
                ..q()
            },
            &["2/19", "2/20", "5/1", "5/2"],
        ),
        broken(
            "32-bit offsets and sizes",
            Quirks {
                requests: Some(numbers_32_bits),
                replies: SIZES_32_BITS,
                ..q()
            },
            &["4.2/4", "4.3/20", "4.3/28", "4.3/29", "4.4/11"],
        ),
        broken(
            "naive numbers",
            Quirks {
                requests: Some(numbers_naive),
                ..q()
            },
            &["4.3/7", "4.3/8", "4.3/9", "4.3/11", "6/11"],
        ),
        broken(
            "lenient about case and spaces",
            Quirks {
                requests: Some(lenient),
                answer_at_eof: true,
                ..q()
            },
            &["2/6", "2/7", "2/18", "4.3/14", "4.5/3", "6/7", "6/8"],
        ),
        broken(
            "answers after quit",
            Quirks {
                quit_last: true,
                ..q()
            },
            &["4.6/2", "4.6/3"],
        ),
        broken(
            "100 requests per connection",
            Quirks {
                max_requests: Some(100),
                ..q()
            },
            &["2/4", "7/7", "7/8"],
        ),
        broken(
            "a careless listing",
            Quirks {
                replies: CARELESS_LISTING,
                ..q()
            },
            &[
                "4.1/1", "4.1/3", "4.1/6", "4.1/8", "4.1/9", "4.1/10", "4.1/11", "4.1/12",
            ],
        ),
        broken(
            "sizes one too many",
            Quirks {
                replies: SIZES_PLUS_ONE,
                ..q()
            },
            &[
                "4.2/1", "4.2/2", "4.2/3", "4.2/4", "4.2/8", "4.2/13", "4.4/4",
            ],
        ),
        broken(
            "slices one byte short",
            Quirks {
                requests: Some(one_short),
                ..q()
            },
            &[
                "3/8", "4.3/1", "4.3/2", "4.3/4", "4.3/9", "4.3/17", "4.3/18", "4.3/19", "4.3/20",
                "4.3/21", "4.3/25", "4.3/28", "4.3/29", "4.4/1", "4.4/2", "4.4/4", "4.4/9",
                "4.4/11", "4.4/12", "6/16", "7/2", "7/5", "7/9",
            ],
        ),
        broken(
            "a lower-case raw header",
            Quirks {
                replies: RAW_HEADER_LOWER_CASE,
                ..q()
            },
            &[
                "4.4/1", "4.4/2", "4.4/3", "4.4/4", "4.4/11", "4.4/12", "7/9",
            ],
        ),
        broken(
            "help out of order",
            Quirks {
                replies: HELP_OUT_OF_ORDER,
                ..q()
            },
            &["4.5/1"],
        ),
        broken(
            "an absent file is 199",
            Quirks {
                requests: Some(absent_is_199),
                ..q()
            },
            &[
                "2/1", "2/2", "2/3", "2/4", "2/5", "2/21", "3/3", "3/7", "4.2/5", "4.3/22",
                "4.4/10", "4.6/6", "6/11", "6/15", "7/3", "7/4",
            ],
        ),
        broken(
            "lower-case names only",
            Quirks {
                requests: Some(lower_case_names),
                ..q()
            },
            &["5/11"],
        ),
        broken(
            "a name too long is 199",
            Quirks {
                requests: Some(long_name_is_199),
                ..q()
            },
            &["2/20", "5/1", "5/2", "5/3"],
        ),
        broken(
            "SIZE 0 is 201",
            Quirks {
                requests: Some(size_0_is_201),
                ..q()
            },
            &["4.3/3", "4.3/5", "4.3/6", "4.3/23", "4.3/30", "4.4/3"],
        ),
        broken(
            "201's text shortened",
            Quirks {
                replies: TEXT_201,
                ..q()
            },
            &[
                "2/5", "2/6", "2/7", "3/6", "4.1/2", "4.2/10", "4.2/11", "4.3/10", "4.3/11",
                "4.3/12", "4.3/13", "4.3/14", "4.3/15", "4.3/16", "4.4/5", "4.4/6", "4.4/7",
                "4.4/8", "4.5/2", "4.6/5", "5/4", "5/5", "5/8", "5/9", "5/10", "5/12", "5/13",
                "5/14", "6/9", "6/10", "6/13",
            ],
        ),
        broken(
            "200's text changed",
            Quirks {
                replies: TEXT_200,
                ..q()
            },
            &["2/4", "2/5", "2/21", "3/5", "4.5/3", "6/6", "6/7", "6/8"],
        ),
    ]
}

fn run_broken(server: &Broken) -> Report {
    let dir = tempfile::tempdir().expect("a served directory");
    let real = quiet_server(dir.path(), server.flags);
    let proxy = Proxy::start(real.addr, server.quirks.clone());
    let cases: Vec<_> = catalogue()
        .into_iter()
        .filter(|case| server.only.is_empty() || server.only.contains(&case.id.as_str()))
        .filter(|case| !server.not.contains(&case.id.as_str()))
        .collect();
    // One case at a time when only some run: they are about connections
    // that must not wait for each other's, so no other case may add any.
    // Those cases are light: a shorter time keeps the ones that must
    // time out quick.
    let (jobs, seconds) = if server.only.is_empty() {
        (16, 10)
    } else {
        (1, 5)
    };
    let report = run_cases(
        &Config {
            jobs,
            ..config(proxy.addr, dir.path(), Kit::K2026, seconds)
        },
        &cases,
    );
    report.expect("a run")
}

#[track_caller]
fn fails_exactly(name: &str) {
    let servers = broken_servers();
    let server = servers
        .iter()
        .find(|s| s.name == name)
        .expect("a broken server of that name");
    let report = run_broken(server);
    assert_eq!(
        failed(&report),
        ids(server.fails),
        "{}: {}",
        server.name,
        report.text()
    );
}

/// One test per broken server, so that they run in parallel.
macro_rules! broken_server_tests {
    ($($test:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                fails_exactly($name);
            }
        )*

        #[test]
        fn every_broken_server_has_its_test() {
            let tested = [$($name),*];
            for server in broken_servers() {
                assert!(tested.contains(&server.name), "no test runs {:?}", server.name);
            }
        }
    };
}

broken_server_tests! {
    broken_closes_late: "closes late after a fatal status",
    broken_bare_lf_at_crlf: "answers a bare LF only at a CRLF",
    broken_no_pipelining: "no pipelining",
    broken_200_before_101: "200 before 101",
    broken_2025_server: "a 2025 server",
    broken_one_at_a_time: "one connection at a time",
    broken_dies_with_a_vanishing_client: "one connection at a time, and it dies with a client that vanishes",
    broken_link_out: "serves a link out of the directory",
    broken_hidden: "serves hidden files",
    broken_directories: "serves directories",
    broken_line_limit: "a 1 MiB line limit, closing",
    broken_32_bits: "32-bit offsets and sizes",
    broken_naive_numbers: "naive numbers",
    broken_lenient: "lenient about case and spaces",
    broken_answers_after_quit: "answers after quit",
    broken_100_requests: "100 requests per connection",
    broken_listing: "a careless listing",
    broken_sizes: "sizes one too many",
    broken_slices_short: "slices one byte short",
    broken_raw_header: "a lower-case raw header",
    broken_help_order: "help out of order",
    broken_absent_199: "an absent file is 199",
    broken_lower_case_names: "lower-case names only",
    broken_long_name_199: "a name too long is 199",
    broken_size_0: "SIZE 0 is 201",
    broken_201_text: "201's text shortened",
    broken_200_text: "200's text changed",
}

/// Every case fails against at least one broken server: none of them
/// passes whatever the server does.
#[test]
fn every_case_is_failed_by_some_broken_server() {
    let failed: BTreeSet<&str> = broken_servers()
        .iter()
        .flat_map(|s| s.fails.iter().copied())
        .collect();
    let never: Vec<String> = catalogue()
        .into_iter()
        .map(|case| case.id)
        .filter(|id| !failed.contains(id.as_str()))
        .collect();
    assert!(never.is_empty(), "no broken server fails {never:?}");
    // And each broken server's list names real cases.
    let all: BTreeSet<String> = catalogue().into_iter().map(|case| case.id).collect();
    for server in broken_servers() {
        for id in server.fails.iter().chain(server.only).chain(server.not) {
            assert!(all.contains(*id), "{}: no case {id}", server.name);
        }
    }
}

/// The 2025 server fails only what the 2026 kit added: checked against
/// the 2025 kit, it passes.
#[test]
fn a_2025_server_passes_the_2025_kit() {
    let dir = tempfile::tempdir().expect("a served directory");
    let real = quiet_server(dir.path(), &[]);
    let proxy = Proxy::start(
        real.addr,
        Quirks {
            requests: Some(kit_2025),
            ..Quirks::default()
        },
    );
    let report = run(&config(proxy.addr, dir.path(), Kit::K2025, 30)).expect("a run");
    assert!(report.passed(), "{}", report.text());
}
