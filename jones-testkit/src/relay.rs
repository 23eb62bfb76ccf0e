//! A loopback TCP relay in front of a ZooKeeper port, which a test cuts and
//! restores to disconnect its clients while the server and their sessions
//! live on: the way to change the tree while a client is disconnected and
//! check what it sees when it comes back in the same session.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Forwards every connection to `127.0.0.1:{target}` until [`Relay::cut`];
/// see the module docs. Dropping it closes every connection and stops its
/// threads.
///
/// ```no_run
/// let zk = jones_testkit::ZooKeeper::start().unwrap();
/// let relay = jones_testkit::Relay::start(zk.port()).unwrap();
/// let connect_string = relay.connect_string(); // give this to the client
/// relay.cut(); // the client is disconnected; its session lives on
/// relay.restore(); // it reconnects in the same session
/// ```
#[derive(Debug)]
pub struct Relay {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    cut: AtomicBool,
    stopping: AtomicBool,
    /// Both ends of every open connection, to shut them down on a cut.
    open: Mutex<Vec<TcpStream>>,
}

impl Relay {
    /// Listens on a free loopback port and relays to `target`.
    pub fn start(target: u16) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(listener, target, &shared))
        };
        Ok(Self {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The relay's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:{port}`, for a client's connect string.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes every relayed connection and refuses new ones (they are
    /// accepted and closed at once) until [`Self::restore`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor out of `accept`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.close_all();
    }
}

impl Shared {
    fn close_all(&self) {
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept(listener: TcpListener, target: u16, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else { continue };
        if shared.cut.load(Ordering::SeqCst) {
            continue;
        }
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let ends = (client.try_clone(), server.try_clone());
        let (Ok(client_end), Ok(server_end)) = ends else {
            continue;
        };
        {
            let mut open = shared.open.lock().unwrap();
            // A cut between the check above and here must not miss it.
            if shared.cut.load(Ordering::SeqCst) {
                continue;
            }
            open.extend([client_end, server_end]);
        }
        pump(&client, &server);
        pump(&server, &client);
    }
}

/// Copies `from` to `to` on a thread until either side closes, then shuts
/// both down.
fn pump(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}
