//! The broken servers' rewrites of requests and replies.

const COMMANDS: [&[u8]; 5] = [
    b"get_file_listing",
    b"get_metadata",
    b"get_slice",
    b"help",
    b"quit",
];

/// The words of a CRLF-terminated request line, or `None`.
fn words(line: &[u8]) -> Option<Vec<&[u8]>> {
    Some(line.strip_suffix(b"\r\n")?.split(|&b| b == b' ').collect())
}

/// `line` with its words changed by `change`; a line that does not end
/// in CRLF passes unchanged.
fn edit(line: &[u8], change: impl FnOnce(&mut Vec<Vec<u8>>)) -> Vec<u8> {
    let Some(words) = words(line) else {
        return line.to_vec();
    };
    let mut words: Vec<Vec<u8>> = words.into_iter().map(<[u8]>::to_vec).collect();
    change(&mut words);
    let mut line = words.join(&b' ');
    line.extend_from_slice(b"\r\n");
    line
}

/// Decides 200 before it looks at the bytes (101).
pub fn command_first(line: &[u8]) -> Vec<u8> {
    match words(line) {
        Some(words) if !COMMANDS.contains(&words[0]) => b"nope\r\n".to_vec(),
        _ => line.to_vec(),
    }
}

/// A server of the 2025 kit (run as root, so it reads a mode-000 file).
pub fn kit_2025(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words.iter().all(|word| word.is_empty()) {
            *words = vec![b"nope".to_vec()];
            return;
        }
        match words[0].as_slice() {
            b"help" => words[0] = b"Help".to_vec(),
            b"get_slice" if words.len() == 5 && words[4] == b"raw" => words[4] = b"rawx".to_vec(),
            _ => {}
        }
        for word in &mut words[1..] {
            if word == b"hftp-check-mode000" {
                *word = b"hftp-check-archivo.txt".to_vec();
            }
        }
    })
}

fn rename(line: &[u8], from: &[&[u8]], to: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words.len() > 1 && from.contains(&words[1].as_slice()) {
            words[1] = to.to_vec();
        }
    })
}

/// Serves a link out of the directory (as the file it names).
pub fn follow_links(line: &[u8]) -> Vec<u8> {
    rename(line, &[b"hftp-check-link-out"], b"hftp-check-archivo.txt")
}

/// Serves directories, `.` and `..` as files.
pub fn serve_dirs(line: &[u8]) -> Vec<u8> {
    rename(
        line,
        &[b"hftp-check-dir", b".", b".."],
        b"hftp-check-archivo.txt",
    )
}

/// Offsets and sizes kept in 32 bits.
pub fn numbers_32_bits(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words[0] == b"get_slice" {
            for word in words.iter_mut().skip(2).take(2) {
                let digits = !word.is_empty() && word.iter().all(u8::is_ascii_digit);
                if let Some(n) = std::str::from_utf8(word)
                    .ok()
                    .and_then(|w| w.parse::<u64>().ok())
                    && digits
                {
                    *word = (n % (1 << 32)).to_string().into_bytes();
                }
            }
        }
    })
}

/// Numbers parsed as Rust's `u64::from_str` does, with a wrapping sum,
/// and leading zeros refused.
pub fn numbers_naive(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words[0] == b"get_slice" && words.len() >= 4 {
            let parsed: Vec<Option<u64>> = words[2..4]
                .iter()
                .map(|w| std::str::from_utf8(w).ok().and_then(|w| w.parse().ok()))
                .collect();
            match (parsed[0], parsed[1]) {
                (Some(offset), Some(size))
                    if words[2..4]
                        .iter()
                        .all(|w| !w.starts_with(b"0") || w == b"0") =>
                {
                    // The sum wraps: an overflowing slice starts at 0.
                    let offset = if offset.checked_add(size).is_none() {
                        0
                    } else {
                        offset
                    };
                    words[2] = offset.to_string().into_bytes();
                    words[3] = size.to_string().into_bytes();
                }
                _ => words[2] = b"x".to_vec(),
            }
        }
    })
}

/// Commands in any case, spaces collapsed or trimmed.
pub fn lenient(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        words.retain(|word| !word.is_empty());
        if let Some(command) = words.first_mut() {
            command.make_ascii_lowercase();
        }
    })
}

/// One byte short: the end of a slice is taken as inclusive.
pub fn one_short(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words[0] == b"get_slice"
            && words.len() >= 4
            && let Some(size) = std::str::from_utf8(&words[3])
                .ok()
                .and_then(|w| w.parse::<u64>().ok())
        {
            words[3] = size.saturating_sub(1).to_string().into_bytes();
        }
    })
}

pub const LINK_OUT_LISTED: &[(&[u8], &[u8])] = &[(
    b"hftp-check-link-in\r\n",
    b"hftp-check-link-in\r\nhftp-check-link-out\r\n",
)];
pub const DIR_LISTED: &[(&[u8], &[u8])] = &[(
    b"hftp-check-binary.bin\r\n",
    b"hftp-check-binary.bin\r\nhftp-check-dir\r\n",
)];
pub const SIZES_32_BITS: &[(&[u8], &[u8])] = &[(b"5368709127\r\n", b"1073741831\r\n")];
pub const CARELESS_LISTING: &[(&[u8], &[u8])] = &[
    (b"hftp-check-archivo.txt\r\n", b"hftp-check-a space\r\n"),
    (b"hftp-check-link-in\r\n", b""),
    (b"hftp-check-mode000\r\n", b""),
    (b"hftp-check-sparse.bin\r\n", b"hftp-check-tilde~\r\n"),
    (
        b"hftp-check-empty\r\n",
        b"hftp-check-empty\r\nhftp-check-big.bin\r\n",
    ),
];
pub const SIZES_PLUS_ONE: &[(&[u8], &[u8])] = &[
    (b"41\r\n", b"42\r\n"),
    (b"0\r\n", b"1\r\n"),
    (b"272\r\n", b"273\r\n"),
    (b"8388608\r\n", b"8388609\r\n"),
    (b"5368709127\r\n", b"5368709128\r\n"),
];
pub const RAW_HEADER_LOWER_CASE: &[(&[u8], &[u8])] = &[
    (b"Content-Length: 20\r\n", b"content-length: 20\r\n"),
    (b"Content-Length: 272\r\n", b"content-length: 272\r\n"),
    (b"Content-Length: 0\r\n", b"content-length: 0\r\n"),
    (b"Content-Length: 9\r\n", b"content-length: 9\r\n"),
    (b"Content-Length: 21\r\n", b"content-length: 21\r\n"),
    (
        b"Content-Length: 8388608\r\n",
        b"content-length: 8388608\r\n",
    ),
];
pub const HELP_OUT_OF_ORDER: &[(&[u8], &[u8])] =
    &[(b"help\r\n", b"quit\r\n"), (b"quit\r\n", b"help\r\n")];

/// An absent file is an internal error (ENOENT mapped to 199); keyed on
/// the check's absent name, as the probe for an open connection must
/// keep working for the other cases.
pub fn absent_is_199(line: &[u8]) -> Vec<u8> {
    rename(line, &[b"hftp-check-absent"], b"hftp-check-mode000")
}

/// Names of lower-case letters, digits, `.`, `_` and `-` only.
pub fn lower_case_names(line: &[u8]) -> Vec<u8> {
    match words(line) {
        Some(words) if words.len() > 1 && words[1].iter().any(u8::is_ascii_uppercase) => {
            rename(line, &[words[1]], b"not/allowed")
        }
        _ => line.to_vec(),
    }
}

/// A name longer than the system allows is an internal error
/// (ENAMETOOLONG mapped to 199).
pub fn long_name_is_199(line: &[u8]) -> Vec<u8> {
    match words(line) {
        Some(words) if words.len() > 1 && words[1].len() > 255 => {
            rename(line, &[words[1]], b"hftp-check-mode000")
        }
        _ => line.to_vec(),
    }
}

/// SIZE 0 refused with 201, as some course servers do.
pub fn size_0_is_201(line: &[u8]) -> Vec<u8> {
    edit(line, |words| {
        if words[0] == b"get_slice" && words.len() >= 4 && words[3] == b"0" {
            words[3] = b"x".to_vec();
        }
    })
}

pub const TEXT_201: &[(&[u8], &[u8])] = &[(
    b"201 INVALID ARGUMENTS FOR COMMAND\r\n",
    b"201 INVALID ARGUMENTS\r\n",
)];
pub const TEXT_200: &[(&[u8], &[u8])] = &[(b"200 NO SUCH COMMAND\r\n", b"200 UNKNOWN COMMAND\r\n")];
