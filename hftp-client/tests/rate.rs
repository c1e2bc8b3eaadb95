//! `--limit-rate`: a limited transfer is as byte-exact as any, over one
//! connection or several; bad rates are usage errors. (How the rate is
//! kept is tested on a simulated clock, beside the token bucket.)

use crate::cli::{MIB, entries, stderr_of};
use crate::util::{
    FakeServer, Quirks, RealServer, assert_file, closed_port, hftp, pattern, served_dir,
};

#[test]
fn a_limited_download_is_byte_exact() {
    let big = pattern(2 * MIB + 3, 71);
    let served = served_dir(&[("big.bin", &big)]);
    let server = RealServer::start(served.path());
    let here = tempfile::tempdir().expect("a directory");
    for parallel in ["1", "2"] {
        hftp(server.port(), here.path())
            .args(["get", "--limit-rate", "8M", "-j", parallel, "big.bin"])
            .assert()
            .success()
            .stderr("");
        assert_file(&here.path().join("big.bin"), &big);
        assert_eq!(entries(here.path()), ["big.bin"]);
    }
    hftp(server.port(), here.path())
        .args(["get", "--limit-rate", "8M", "big.bin", "-o", "-"])
        .assert()
        .success()
        .stdout(big.clone());
    // From an older server too: base64 after the refused raw slice.
    let old = FakeServer::start(&[("big.bin", &big)], Quirks::default());
    for port in [server.port(), old.port()] {
        hftp(port, here.path())
            .args(["mirror", "--limit-rate", "16M", "copy"])
            .assert()
            .success();
        assert_file(&here.path().join("copy/big.bin"), &big);
        std::fs::remove_dir_all(here.path().join("copy")).expect("removed");
    }
}

#[test]
fn a_rate_that_is_not_one_is_a_usage_error() {
    let here = tempfile::tempdir().expect("a directory");
    for bad in ["fast", "10X", "0", "-1M", "1e6"] {
        let output = hftp(closed_port(), here.path())
            .args(["get", &format!("--limit-rate={bad}"), "a.txt"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = stderr_of(&output);
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '--limit-rate <RATE>': "
            )) && stderr.contains("such as 500K, 2M or 1G"),
            "{bad}: {stderr}"
        );
    }
}
