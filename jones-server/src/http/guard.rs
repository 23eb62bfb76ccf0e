//! Web security: which requests a browser page could have forged, refused
//! before anything is read or written.
//!
//! A server on loopback without a token is still reachable from every page
//! the user's browser opens. Three rules close that:
//!
//! - **Host** (every request): the `Host` header must name this server: its
//!   listen address (on loopback also `localhost`, `127.0.0.1` and `[::1]`
//!   with the listen port; on an unspecified address such as `0.0.0.0` any IP
//!   literal with the listen port), or a `--public-url`. A DNS-rebinding page
//!   sends its own host name here, so it cannot read through the user's
//!   browser. A request without `Host` (HTTP/1.0 tools) passes: browsers
//!   always send one.
//! - **Origin** (writes): when present it must be a public URL's origin or
//!   `http://` followed by an allowed host. Browsers send it on every
//!   cross-origin and same-origin write, so a foreign page is refused.
//! - **Content-Type** (writes): a write with a body must say
//!   `application/json`; a bodyless write may omit it but may not name
//!   anything else. An HTML form can only send `text/plain`, urlencoded or
//!   multipart bodies, and a script that sets `application/json` on a
//!   cross-origin request triggers a CORS preflight, which this server never
//!   approves.
//!
//! Refusals are 403 (host, origin) and 415 (content type), decided from the
//! request head alone.

use std::net::{IpAddr, SocketAddr};

use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use warp::http::{HeaderMap, StatusCode};

use super::errors::ApiError;

/// A URL the server is reached at through a proxy or a DNS name, from
/// `--public-url`: scheme, host and port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    scheme: String,
    host: String,
    port: u16,
}

impl PublicUrl {
    /// Parses `http[s]://host[:port][/path]`; the path is ignored.
    ///
    /// ```
    /// use jones_server::http::PublicUrl;
    /// assert!(PublicUrl::parse("https://jones.example.com").is_ok());
    /// assert!(PublicUrl::parse("http://[::1]:8080/ui").is_ok());
    /// assert!(PublicUrl::parse("jones.example.com").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--public-url {url:?}: {why}");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("needs a scheme, e.g. https://jones.example.com"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("must not hold user information"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        Ok(Self {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]", self.scheme, self.host)?;
        } else {
            write!(f, "{}://{}", self.scheme, self.host)?;
        }
        if self.port != self.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// The names this server answers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostRules<'a> {
    /// The address the server listens on, once known.
    pub listen: Option<SocketAddr>,
    pub public: &'a [PublicUrl],
}

impl HostRules<'_> {
    /// Whether a `Host` header value names this server.
    pub(crate) fn allows_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_host_port(host) else {
            return false;
        };
        self.allows_listen(&name, port.unwrap_or(80))
            || self
                .public
                .iter()
                .any(|u| u.host == name && port.map_or(u.port == u.default_port(), |p| p == u.port))
    }

    /// Whether an `Origin` header value is one of this server's origins.
    pub(crate) fn allows_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // "null" and other opaque origins
        };
        let scheme = scheme.to_ascii_lowercase();
        let Some((name, port)) = split_host_port(authority) else {
            return false;
        };
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let port = port.unwrap_or(default_port);
        (scheme == "http" && self.allows_listen(&name, port))
            || self
                .public
                .iter()
                .any(|u| u.scheme == scheme && u.host == name && u.port == port)
    }

    /// Whether a `Host` header value names one of the `https` public URLs:
    /// the request reached the server over TLS (at its proxy).
    pub(crate) fn is_https_host(&self, host: &str) -> bool {
        let Some((name, port)) = split_host_port(host) else {
            return false;
        };
        self.public.iter().any(|u| {
            u.scheme == "https" && u.host == name && port.map_or(u.port == 443, |p| p == u.port)
        })
    }

    /// The listen-address part of the rules: `name` is lower-case, IPv6
    /// without brackets.
    fn allows_listen(&self, name: &str, port: u16) -> bool {
        let Some(listen) = self.listen else {
            return false;
        };
        if port != listen.port() {
            return false;
        }
        let ip = name.parse::<IpAddr>().ok();
        let listen_ip = listen.ip();
        if listen_ip.is_unspecified() {
            // Every address of the machine: IP literals cannot be rebound.
            return ip.is_some() || name == "localhost";
        }
        if listen_ip.is_loopback() {
            return name == "localhost" || ip.is_some_and(|ip| ip.is_loopback());
        }
        ip == Some(listen_ip)
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into a lower-case host, brackets
/// removed, and a port; `None` when malformed.
fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.trim();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() || host.contains(['[', ']', ':', '/', '@', ' ']) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Whether the request came over `https`, as far as the server can tell:
/// its `Host` names an `https` `--public-url`.
pub(crate) fn came_over_https(rules: &HostRules<'_>, headers: &HeaderMap) -> bool {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| rules.is_https_host(h))
}

/// Whether `method` changes something (everything but GET and HEAD).
pub(crate) fn is_write(method: &warp::http::Method) -> bool {
    !matches!(*method, warp::http::Method::GET | warp::http::Method::HEAD)
}

fn forbidden(kind: &str, message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, kind, message)
}

/// The `Host` rule, for every request.
pub(crate) fn check_host(rules: &HostRules<'_>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(host) = headers.get(HOST) else {
        return Ok(());
    };
    match host.to_str() {
        Ok(h) if rules.allows_host(h) => Ok(()),
        _ => Err(forbidden(
            "foreign_host",
            format!(
                "this server does not answer to the host {host:?}: use its listen address, \
                 or start it with --public-url for the name you use"
            ),
        )),
    }
}

/// The `Origin` and `Content-Type` rules, for writes.
pub(crate) fn check_write_origin(
    rules: &HostRules<'_>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    match origin.to_str() {
        Ok(o) if rules.allows_origin(o) => Ok(()),
        _ => Err(forbidden(
            "foreign_origin",
            format!(
                "writes from the origin {origin:?} are refused: only this server's own pages \
                 (its listen address or a --public-url) may write"
            ),
        )),
    }
}

/// The `Content-Type` rule for writes: JSON when there is a body.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let has_body =
        headers.contains_key(TRANSFER_ENCODING) || declared_length(headers).is_some_and(|n| n > 0);
    let refused = |what: String| {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{what}: writes take `Content-Type: application/json`"),
        ))
    };
    match headers.get(CONTENT_TYPE) {
        Some(value) => {
            let json = value.to_str().ok().is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
            });
            if json {
                Ok(())
            } else {
                refused(format!("the body is {value:?}"))
            }
        }
        None if has_body => refused("the body has no Content-Type".into()),
        None => Ok(()),
    }
}

/// The `Content-Length` the client declared, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn rules(listen: &str, public: &[&str]) -> HostRules<'static> {
        let public: Vec<PublicUrl> = public
            .iter()
            .map(|u| PublicUrl::parse(u).unwrap())
            .collect();
        HostRules {
            listen: Some(listen.parse().unwrap()),
            public: public.leak(),
        }
    }

    #[test]
    fn loopback_answers_to_its_loopback_names_with_its_port() {
        let r = rules("127.0.0.1:8080", &[]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(r.allows_host(ok), "{ok}");
        }
        for no in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "localhost",
            "127.0.0.1",
            "",
            "[::1",
            "a:b:c",
            "localhost.evil.example:8080",
        ] {
            assert!(!r.allows_host(no), "{no}");
        }
        let on_80 = rules("127.0.0.1:80", &[]);
        assert!(on_80.allows_host("localhost"));
    }

    #[test]
    fn other_addresses_answer_to_themselves_and_public_urls() {
        let r = rules(
            "10.1.2.3:8080",
            &["https://jones.example.com", "http://cfg.internal:9000/ui"],
        );
        assert!(r.allows_host("10.1.2.3:8080"));
        assert!(!r.allows_host("10.1.2.4:8080"));
        assert!(!r.allows_host("localhost:8080"));
        assert!(r.allows_host("jones.example.com"));
        assert!(r.allows_host("jones.example.com:443"));
        assert!(!r.allows_host("jones.example.com:8080"));
        assert!(r.allows_host("cfg.internal:9000"));
        assert!(!r.allows_host("cfg.internal"));
        let any = rules("0.0.0.0:8080", &[]);
        assert!(any.allows_host("192.168.1.9:8080"));
        assert!(any.allows_host("[fe80::1]:8080"));
        assert!(!any.allows_host("rebind.evil.example:8080"));
        let unknown = HostRules {
            listen: None,
            public: &[],
        };
        assert!(!unknown.allows_host("127.0.0.1:8080"));
    }

    #[test]
    fn origins_must_be_the_servers_own() {
        let r = rules("127.0.0.1:8080", &["https://jones.example.com"]);
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "https://jones.example.com",
            "https://jones.example.com:443",
        ] {
            assert!(r.allows_origin(ok), "{ok}");
        }
        for no in [
            "http://evil.example",
            "null",
            "https://127.0.0.1:8080",
            "http://jones.example.com",
            "http://127.0.0.1:9999",
            "file://",
        ] {
            assert!(!r.allows_origin(no), "{no}");
        }
    }

    #[test]
    fn public_urls_parse_or_say_why_not() {
        let u = PublicUrl::parse("HTTPS://Jones.Example.com:8443/x").unwrap();
        assert_eq!(u.to_string(), "https://jones.example.com:8443");
        assert_eq!(
            PublicUrl::parse("http://[::1]/").unwrap().to_string(),
            "http://[::1]"
        );
        for bad in ["ftp://x", "x", "http://", "http://a:b", "http://u@x"] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes_with_a_body_must_be_json() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        let ok = |h: &HeaderMap| check_content_type(h).is_ok();
        assert!(ok(&headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2")
        ])));
        assert!(ok(&headers(&[("content-length", "0")])));
        assert!(ok(&headers(&[])));
        assert!(!ok(&headers(&[
            ("content-type", "text/plain"),
            ("content-length", "2")
        ])));
        assert!(!ok(&headers(&[("content-type", "text/plain")])));
        assert!(!ok(&headers(&[("content-length", "2")])));
        assert!(!ok(&headers(&[("transfer-encoding", "chunked")])));
        assert!(!ok(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
    }
}
