//! Servers and remote files as users name them: `HOST`, `HOST:PORT`,
//! `[V6]`, `[V6]:PORT`, a bare IPv6 address, and the URL form
//! `hftp://HOST[:PORT]/NAME`.

use std::fmt;

use hftp_client::FileName;

/// HFTP's default port.
pub const DEFAULT_PORT: u16 = 19500;

/// A server: its host, and its port if one was named with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// A name or an address, IPv6 ones without brackets.
    pub host: String,
    pub port: Option<u16>,
}

impl Server {
    /// `host:port`, with an IPv6 address in brackets.
    pub fn with_port(&self, default: u16) -> String {
        let port = self.port.unwrap_or(default);
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(_) => f.write_str(&self.with_port(DEFAULT_PORT)),
            None if self.host.contains(':') => write!(f, "[{}]", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A file, and the server it is on if it was named by a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub server: Option<Server>,
    pub name: FileName,
}

impl fmt::Display for RemoteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.server {
            Some(server) => write!(f, "hftp://{server}/{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// `-H`'s value: a server, perhaps as a URL with no file.
pub fn parse_server(text: &str) -> Result<Server, String> {
    match text.strip_prefix("hftp://") {
        Some(rest) => {
            let (server, name) = split_url(rest)?;
            match name {
                "" => Ok(server),
                _ => Err(format!("{text}: a host names no file; give the file apart")),
            }
        }
        None => host_and_port(text),
    }
}

/// A remote file: a name, or `hftp://HOST[:PORT]/NAME`.
/// What `get` takes: a file, or a glob of the files a server lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSpec {
    File(RemoteFile),
    /// `*`, `?` and `[...]` as in a shell, matched against the server's
    /// listing (no file name can hold them, so nothing is ambiguous).
    Glob {
        server: Option<Server>,
        pattern: glob::Pattern,
    },
}

impl fmt::Display for RemoteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteSpec::File(file) => file.fmt(f),
            RemoteSpec::Glob {
                server: Some(server),
                pattern,
            } => write!(f, "hftp://{server}/{pattern}"),
            RemoteSpec::Glob {
                server: None,
                pattern,
            } => pattern.fmt(f),
        }
    }
}

/// `NAME`, `PATTERN`, `hftp://HOST[:PORT]/NAME` or
/// `hftp://HOST[:PORT]/PATTERN`.
pub fn parse_remote_spec(text: &str) -> Result<RemoteSpec, String> {
    let (server, name) = match text.strip_prefix("hftp://") {
        Some(rest) => {
            let (server, name) = split_url(rest)?;
            (Some(server), name)
        }
        None => (None, text),
    };
    if name.contains(['*', '?', '[']) {
        let pattern = glob::Pattern::new(name).map_err(|error| format!("{text}: {error}"))?;
        return Ok(RemoteSpec::Glob { server, pattern });
    }
    parse_remote_file(text).map(RemoteSpec::File)
}

pub fn parse_remote_file(text: &str) -> Result<RemoteFile, String> {
    let Some(rest) = text.strip_prefix("hftp://") else {
        let name = FileName::new(text).map_err(|error| error.to_string())?;
        return Ok(RemoteFile { server: None, name });
    };
    let (server, name) = split_url(rest)?;
    let name = FileName::new(name).map_err(|error| format!("{text}: {error}"))?;
    Ok(RemoteFile {
        server: Some(server),
        name,
    })
}

/// `HOST[:PORT][/NAME]` of a URL: the server and the name (maybe empty).
fn split_url(rest: &str) -> Result<(Server, &str), String> {
    // A bracketed IPv6 address has colons but no slash.
    let (authority, name) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((host_and_port(authority)?, name))
}

fn host_and_port(text: &str) -> Result<Server, String> {
    if let Some(rest) = text.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("{text}: no ] after the IPv6 address"));
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None => return Err(format!("{text}: expected :PORT after ]")),
            },
        };
        return server(host, port);
    }
    match text.split_once(':') {
        // More than one colon: a bare IPv6 address, no port.
        Some((_, rest)) if rest.contains(':') => server(text, None),
        Some((host, port)) => server(host, Some(parse_port(port)?)),
        None => server(text, None),
    }
}

fn server(host: &str, port: Option<u16>) -> Result<Server, String> {
    if host.is_empty() {
        return Err("no host named".to_string());
    }
    Ok(Server {
        host: host.to_string(),
        port,
    })
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a port (0 to 65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: Option<u16>) -> Server {
        Server {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn servers_in_every_form() {
        let table = [
            ("example.org", at("example.org", None), "example.org:19500"),
            (
                "127.0.0.1:19577",
                at("127.0.0.1", Some(19577)),
                "127.0.0.1:19577",
            ),
            ("[::1]", at("::1", None), "[::1]:19500"),
            ("[::1]:8", at("::1", Some(8)), "[::1]:8"),
            ("::1", at("::1", None), "[::1]:19500"),
            ("fe80::1:2", at("fe80::1:2", None), "[fe80::1:2]:19500"),
            ("hftp://h:7", at("h", Some(7)), "h:7"),
            ("hftp://h/", at("h", None), "h:19500"),
            ("hftp://[::1]:9", at("::1", Some(9)), "[::1]:9"),
        ];
        for (text, expected, shown) in table {
            let server = parse_server(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(server, expected, "{text}");
            assert_eq!(server.with_port(DEFAULT_PORT), shown, "{text}");
        }
        for bad in [
            "",
            "h:",
            "h:port",
            "h:65536",
            "[::1",
            "[::1]9",
            ":9",
            "hftp://h/x",
        ] {
            assert!(parse_server(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn remote_files_by_name_or_url() {
        let file = |text| parse_remote_file(text).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(file("a.txt").server, None);
        let url = file("hftp://[::1]:9/a.txt");
        assert_eq!(url.server, Some(at("::1", Some(9))));
        assert_eq!(url.name.as_str(), "a.txt");
        assert_eq!(url.to_string(), "hftp://[::1]:9/a.txt");
        assert_eq!(file("hftp://h/a.txt").server, Some(at("h", None)));
        for bad in ["../x", "hftp://h/", "hftp://h/a/b", "hftp://h:x/a"] {
            assert!(parse_remote_file(bad).is_err(), "{bad:?}");
        }
    }
}
