//! Where a download goes, decided (and checked) before the first request.
//!
//! Only a regular file is written through a `.part` and renamed: renaming
//! onto `/dev/null`, a FIFO or a symbolic link would replace it with a
//! regular file. Anything else is opened and written in order, as `curl
//! -o` and `wget -O` do, and a link is followed to the file it names, so
//! that the link itself stays.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use hftp_client::FileName;

use crate::failure::UsageError;

/// A chain of symbolic links longer than this is refused, as the system
/// itself does (`ELOOP`).
const MAX_LINKS: usize = 40;

/// Where one file is saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (`-o -`).
    Stdout,
    /// A regular file, or a name where nothing is yet: written into
    /// `part` and renamed to `path` once whole. `path` is the file a
    /// symbolic link named, never the link.
    File { path: PathBuf, part: PathBuf },
    /// An existing device, FIFO or socket, or a link to one: opened and
    /// written in order.
    Through { path: PathBuf },
}

impl Destination {
    /// The path written to (`-` for standard output).
    pub fn path(&self) -> &Path {
        match self {
            Destination::Stdout => Path::new("-"),
            Destination::File { path, .. } | Destination::Through { path } => path,
        }
    }

    /// Whether a file is already there that a download would replace
    /// (what `--no-clobber` keeps): a regular file at the final path. A
    /// device or FIFO is written through, not replaced.
    pub fn exists(&self) -> bool {
        match self {
            Destination::File { path, .. } => path.exists(),
            Destination::Stdout | Destination::Through { .. } => false,
        }
    }
}

/// A destination that cannot be used, found before anything is fetched.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// Exit code 6, like any failure to write locally.
    #[error("{0}")]
    Local(String),
}

impl DestinationError {
    /// The error as a command reports it: one sentence, and the exit
    /// code of a usage error or of a local failure.
    pub fn into_error(self) -> anyhow::Error {
        match self {
            DestinationError::Usage(error) => anyhow::Error::new(error),
            DestinationError::Local(text) => anyhow::Error::msg(text),
        }
    }
}

/// What `-o` says about where files go.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub path: Option<&'a Path>,
    pub create_dirs: bool,
}

/// The destination of every file, in order, all checked before any
/// request: a missing directory or a directory in the way is found now,
/// not after the download.
pub fn destinations(
    names: &[FileName],
    output: Output<'_>,
) -> Result<Vec<Destination>, DestinationError> {
    let paths = match output.path {
        None => names
            .iter()
            .map(|name| PathBuf::from(name.as_str()))
            .collect(),
        Some(path) if path.as_os_str() == "-" => {
            return Ok(vec![Destination::Stdout; names.len()]);
        }
        Some(path) if names_a_directory(path) || path.is_dir() => {
            if !path.is_dir() {
                make_dir(path, output.create_dirs)?;
            }
            names.iter().map(|name| path.join(name.as_str())).collect()
        }
        Some(path) if names.len() == 1 || is_special(path) => vec![path.to_path_buf(); names.len()],
        Some(path) => {
            return Err(UsageError(format!(
                "-o {}: with several files, PATH must be a directory (end it with / to create \
                 it with --create-dirs) or - for standard output",
                path.display()
            ))
            .into());
        }
    };
    let destinations = paths
        .iter()
        .map(|path| destination(path, output.create_dirs))
        .collect::<Result<Vec<_>, _>>()?;
    check_temporaries(&destinations)?;
    Ok(destinations)
}

/// A device, FIFO or socket (or a link to one): several files may go
/// there, one after the other, as they may to standard output.
fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|metadata| !metadata.is_dir() && !metadata.is_file())
}

/// `DIR/`: the user says it is a directory, whether or not it exists.
fn names_a_directory(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    bytes.ends_with(b"/") || matches!(path.components().next_back(), Some(Component::CurDir))
}

fn make_dir(dir: &Path, create: bool) -> Result<(), DestinationError> {
    if !create {
        return Err(DestinationError::Local(format!(
            "{}: no such directory (--create-dirs creates it)",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(|error| {
        DestinationError::Local(format!(
            "cannot create the directory {}: {}",
            dir.display(),
            crate::failure::io_message(&error)
        ))
    })
}

/// Where `name` goes in `dir` (none: the current directory), which
/// exists.
pub fn in_dir(dir: Option<&Path>, name: &FileName) -> Result<Destination, DestinationError> {
    let path = match dir {
        Some(dir) => dir.join(name.as_str()),
        None => PathBuf::from(name.as_str()),
    };
    destination(&path, false)
}

fn destination(path: &Path, create_dirs: bool) -> Result<Destination, DestinationError> {
    let path = follow_links(path)?;
    match fs::metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Err(DestinationError::Local(format!(
            "{} is a directory",
            path.display()
        ))),
        Ok(metadata) if metadata.is_file() => Ok(Destination::File {
            part: with_suffix(&path, ".part"),
            path,
        }),
        Ok(_) => Ok(Destination::Through { path }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            if !parent.is_dir() {
                if parent.exists() {
                    return Err(DestinationError::Local(format!(
                        "cannot save to {}: {} is not a directory",
                        path.display(),
                        parent.display()
                    )));
                }
                make_dir(parent, create_dirs)?;
            }
            Ok(Destination::File {
                part: with_suffix(&path, ".part"),
                path,
            })
        }
        Err(error) => Err(DestinationError::Local(format!(
            "cannot save to {}: {}",
            path.display(),
            crate::failure::io_message(&error)
        ))),
    }
}

/// The path a chain of symbolic links ends at (which need not exist: a
/// dangling link names the file to create). A path that is no link is
/// itself.
fn follow_links(path: &Path) -> Result<PathBuf, DestinationError> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let target = match fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => fs::read_link(&path),
            _ => return Ok(path),
        };
        let target = target.map_err(|error| {
            DestinationError::Local(format!(
                "cannot read the link {}: {}",
                path.display(),
                crate::failure::io_message(&error)
            ))
        })?;
        path = match path.parent() {
            Some(parent) if target.is_relative() => parent.join(target),
            _ => target,
        };
    }
    Err(DestinationError::Local(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Refuses a command where one file's destination is another's `.part`
/// (or its segment record): `get a.part a` would download `a` over
/// `a.part`, and `-c` would take `a.part`'s bytes for a prefix of `a`.
fn check_temporaries(destinations: &[Destination]) -> Result<(), UsageError> {
    let paths: Vec<&Path> = destinations
        .iter()
        .filter_map(|destination| match destination {
            Destination::File { path, .. } => Some(path.as_path()),
            _ => None,
        })
        .collect();
    for path in &paths {
        let part = with_suffix(path, ".part");
        let segments = segments_path(&part);
        if let Some(clash) = paths
            .iter()
            .find(|other| **other == part || **other == segments)
        {
            return Err(UsageError(format!(
                "{} is also the temporary file of {}: get them in separate commands",
                clash.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Where a parallel download records how far each segment got.
pub fn segments_path(part: &Path) -> PathBuf {
    with_suffix(part, ".segments")
}

pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut path = path.as_os_str().to_owned();
    path.push(OsStr::new(suffix));
    PathBuf::from(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> FileName {
        FileName::new(name).expect("a valid name")
    }

    fn file(path: &str) -> Destination {
        Destination::File {
            path: PathBuf::from(path),
            part: PathBuf::from(format!("{path}.part")),
        }
    }

    #[test]
    fn a_destination_may_not_be_another_ones_temporary_file() {
        let files = |names: &[&str]| names.iter().map(|name| file(name)).collect::<Vec<_>>();
        assert!(check_temporaries(&files(&["a", "b", "a.parts", "part"])).is_ok());
        for clash in [
            &["a.part", "a"][..],
            &["a", "a.part"],
            &["x", "a.part.segments", "a"],
        ] {
            let error = check_temporaries(&files(clash)).expect_err("a clash");
            assert!(
                error.0.contains("is also the temporary file of a"),
                "{}",
                error.0
            );
        }
    }

    #[test]
    fn devices_and_fifos_are_written_through_and_links_followed() {
        let dir = tempfile::tempdir().expect("a directory");
        let regular = dir.path().join("regular");
        fs::write(&regular, b"x").expect("a file");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("regular", &link).expect("a link");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("new", &dangling).expect("a link");
        let null = Path::new("/dev/null");

        let one = |path: &Path| {
            destinations(
                &[name("a.txt")],
                Output {
                    path: Some(path),
                    create_dirs: false,
                },
            )
            .expect("a destination")
            .remove(0)
        };
        assert_eq!(
            one(null),
            Destination::Through {
                path: null.to_path_buf()
            }
        );
        assert_eq!(one(Path::new("-")), Destination::Stdout);
        assert_eq!(
            one(&link),
            Destination::File {
                path: regular.clone(),
                part: dir.path().join("regular.part")
            }
        );
        assert_eq!(
            one(&dangling),
            Destination::File {
                path: dir.path().join("new"),
                part: dir.path().join("new.part")
            }
        );
        assert_eq!(
            one(dir.path()),
            Destination::File {
                path: dir.path().join("a.txt"),
                part: dir.path().join("a.txt.part")
            }
        );
    }

    #[test]
    fn a_missing_directory_is_refused_or_created_before_anything_is_fetched() {
        let dir = tempfile::tempdir().expect("a directory");
        let new = dir.path().join("new/");
        let output = |create_dirs| Output {
            path: Some(&new),
            create_dirs,
        };
        let error = destinations(&[name("a")], output(false)).expect_err("no directory");
        assert!(
            error
                .to_string()
                .ends_with("new/: no such directory (--create-dirs creates it)"),
            "{error}"
        );
        assert!(!new.exists());
        let made = destinations(&[name("a"), name("b")], output(true)).expect("destinations");
        assert!(new.is_dir());
        assert_eq!(
            made[1],
            file(&dir.path().join("new/b").display().to_string())
        );

        // A directory where the file would go.
        fs::create_dir(dir.path().join("a")).expect("a directory");
        let error = destinations(
            &[name("a")],
            Output {
                path: Some(&dir.path().join("a/")),
                create_dirs: false,
            },
        )
        .expect("a directory is fine as -o");
        assert_eq!(
            error[0],
            file(&dir.path().join("a/a").display().to_string())
        );
        let in_the_way = dir.path().join("a");
        let error = destinations(
            &[name("a")],
            Output {
                path: None,
                create_dirs: false,
            },
        );
        // Relative to the test's own directory, where no `a` is: fine.
        assert!(error.is_ok());
        let error = destination(&in_the_way, false).expect_err("a directory in the way");
        assert!(error.to_string().ends_with("/a is a directory"), "{error}");
    }
}
