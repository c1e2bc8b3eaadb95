//! The mix of requests: what a client asks, and what each must get.

use hftp_proto::{FileName, Request, Status};
use hftp_test_support::{Xorshift, wire};

use super::files::Files;

/// What a request must get.
pub enum Expect<'a> {
    Listing(&'a [FileName]),
    Size(u64),
    Data(&'a [u8]),
    /// A refusal; `close` for a fatal one (and `quit`'s `0 OK`).
    Status {
        status: Status,
        close: bool,
    },
}

/// One item of a batch: the bytes sent, the request its reply decodes as,
/// and what it must be.
pub struct Item<'a> {
    pub wire: Vec<u8>,
    pub request: Request,
    pub expect: Expect<'a>,
}

impl<'a> Item<'a> {
    fn request(request: Request, expect: Expect<'a>) -> Item<'a> {
        Item {
            wire: wire(&request),
            request,
            expect,
        }
    }

    /// A line no `Request` can encode, answered with a bare status.
    fn raw(line: &[u8], status: Status) -> Item<'a> {
        Item {
            wire: line.to_vec(),
            request: Request::Quit,
            expect: Expect::Status {
                status,
                close: status.is_fatal(),
            },
        }
    }
}

/// A random item of the mix.
pub fn random_item<'a>(rng: &mut Xorshift, files: &'a Files) -> Item<'a> {
    let (name, content) = &files.files[rng.index(files.files.len())];
    let len = content.len() as u64;
    let refused = |status| Expect::Status {
        status,
        close: false,
    };
    match rng.upto(99) {
        0..=7 => Item::request(Request::GetFileListing, Expect::Listing(&files.listing)),
        8..=24 => Item::request(Request::GetMetadata { name: *name }, Expect::Size(len)),
        25..=84 => {
            // Mostly small slices, some up to the whole file.
            let size = match rng.upto(9) {
                0..=5 => rng.upto(len.min(64)),
                6..=8 => rng.upto(len.min(256 * 1024)),
                _ => rng.upto(len),
            };
            let offset = rng.upto(len - size);
            let range =
                usize::try_from(offset).unwrap_or(0)..usize::try_from(offset + size).unwrap_or(0);
            Item::request(
                Request::GetSlice {
                    name: *name,
                    offset,
                    size,
                    raw: rng.upto(2) == 1,
                },
                Expect::Data(&content[range]),
            )
        }
        85..=87 => Item::request(
            Request::GetSlice {
                name: *name,
                offset: rng.upto(len + 1),
                size: len + 1,
                raw: false,
            },
            refused(Status::OffsetExceedsFileSize),
        ),
        88..=89 => Item::request(
            Request::GetMetadata {
                name: FileName::new("missing").unwrap_or(*name),
            },
            refused(Status::FileNotFound),
        ),
        90..=91 => Item::raw(b"get_metadata ../etc/passwd\r\n", Status::InvalidArguments),
        92..=93 => Item::raw(b"get_slice one -1 1\r\n", Status::InvalidArguments),
        94..=95 => Item::raw(b"GET_FILE_LISTING\r\n", Status::NoSuchCommand),
        96 => Item::raw(
            b"get_slice one 99999999999999999999999 1\r\n",
            Status::OffsetExceedsFileSize,
        ),
        97 => Item::raw(b"get_file_listing\n", Status::BadEol),
        98 => Item::raw(b"get_file\0listing\r\n", Status::BadRequest),
        _ => Item::request(
            Request::Quit,
            Expect::Status {
                status: Status::Ok,
                close: true,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{Context, Result};

    #[test]
    fn random_items_ask_for_what_the_files_hold() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-soak-test-{}", std::process::id()));
        let files = Files::create(&dir)?;
        let mut rng = Xorshift::new(1);
        for _ in 0..10_000 {
            let item = random_item(&mut rng, &files);
            if let (
                Request::GetSlice {
                    name, offset, size, ..
                },
                Expect::Data(data),
            ) = (item.request, &item.expect)
            {
                let (_, content) = files
                    .files
                    .iter()
                    .find(|(n, _)| *n == name)
                    .context("a served file")?;
                let offset = usize::try_from(offset)?;
                assert_eq!(content[offset..][..usize::try_from(size)?], **data);
            }
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
