//! The default association: this host's fully qualified domain name.
//!
//! Original Jones clients default to Python's `socket.getfqdn()`: the host
//! name, resolved to its canonical name. The same is done here with
//! `getaddrinfo(hostname, AI_CANONNAME)` through the `dns-lookup` crate (a
//! thin, long-maintained wrapper of the C resolver calls, so the answer is
//! the system resolver's, `/etc/hosts` included, like Python's).

/// This host's fully qualified name, or its plain host name when it has no
/// canonical name, or `localhost` when even that is unavailable.
pub fn fqdn() -> String {
    let Ok(hostname) = dns_lookup::get_hostname() else {
        return "localhost".into();
    };
    canonical_name(&hostname).unwrap_or(hostname)
}

fn canonical_name(hostname: &str) -> Option<String> {
    let hints = dns_lookup::AddrInfoHints {
        flags: libc::AI_CANONNAME,
        ..Default::default()
    };
    let mut answers = dns_lookup::getaddrinfo(Some(hostname), None, Some(hints)).ok()?;
    answers
        .find_map(|a| a.ok().and_then(|a| a.canonname))
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fqdn_starts_with_the_host_name() {
        let host = dns_lookup::get_hostname().unwrap();
        let fqdn = super::fqdn();
        let short = host.split('.').next().unwrap();
        assert!(fqdn.starts_with(short), "{fqdn} vs {host}");
    }
}
