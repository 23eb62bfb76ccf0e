//! Loopback ports and ZooKeeper's four-letter words.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::Error;

/// Reserves `n` distinct free loopback ports.
///
/// The listeners are held until all ports are picked, so the same port is
/// never handed out twice; another process may still take one before the
/// server binds it, which the callers handle by retrying.
///
/// ```
/// let ports = jones_zookeeper::free_ports(2).unwrap();
/// assert_ne!(ports[0], ports[1]);
/// ```
pub fn free_ports(n: usize) -> Result<Vec<u16>, Error> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Start(format!("no free loopback port: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Start(format!("no free loopback port: {e}")))
}

/// Sends a four-letter word (`ruok`, `srvr`, `mntr`, …) to the server on
/// loopback `port` and returns its answer. Needs a server that allows the
/// word (the servers of this crate allow all).
///
/// ```no_run
/// let answer = jones_zookeeper::four_letter_word(2181, "ruok").unwrap();
/// assert_eq!(answer, "imok");
/// ```
pub fn four_letter_word(port: u16, word: &str) -> Result<String, Error> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let timeout = Duration::from_secs(2);
    let io = |e: std::io::Error| Error::FourLetterWord {
        port,
        word: word.to_owned(),
        reason: e.to_string(),
    };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(word.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(io)?;
    Ok(answer)
}

/// Whether a listener accepts connections on loopback `port` now.
///
/// A refused connection means no listener; so does a connection to itself,
/// which the kernel makes when it happens to pick `port` as the source port
/// of a connection to a port nobody listens on.
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let port = listener.local_addr().unwrap().port();
/// assert!(jones_zookeeper::port_accepts(port));
/// drop(listener);
/// assert!(!jones_zookeeper::port_accepts(port));
/// ```
pub fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(stream) => stream.local_addr().ok() != stream.peer_addr().ok(),
        Err(e) => e.kind() != std::io::ErrorKind::ConnectionRefused,
    }
}

/// The `Mode:` line of a `srvr` answer: `standalone`, `leader` or `follower`;
/// `None` while the server does not serve yet.
///
/// ```
/// let answer = "Zookeeper version: 3.8.0\nMode: standalone\nNode count: 5\n";
/// assert_eq!(jones_zookeeper::mode_of(answer), Some("standalone"));
/// ```
pub fn mode_of(srvr: &str) -> Option<&str> {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode:"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mode_from_srvr() {
        let answer =
            "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: leader\nNode count: 5\n";
        assert_eq!(mode_of(answer), Some("leader"));
        assert_eq!(
            mode_of("This ZooKeeper instance is not currently serving requests"),
            None
        );
    }

    #[test]
    fn free_ports_are_distinct() {
        let mut ports = free_ports(9).unwrap();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), 9);
    }
}
