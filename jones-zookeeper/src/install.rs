//! Finding a ZooKeeper installation and a Java runtime to run it.
//!
//! `ZOOKEEPER_CLASSPATH` wins when set; otherwise Debian's layout
//! (`/usr/share/java/zookeeper.jar`, whose manifest names its dependencies).
//! Java is `$JAVA_HOME/bin/java`, else `java` on `PATH`.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::Error;

/// Where Debian's `zookeeper` package puts the server jar.
pub const DEBIAN_ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The command that installs what the kit needs on Debian.
pub const INSTALL_HINT: &str = "install it with `sudo apt-get install -y zookeeper default-jre-headless` (or run scripts/setup)";
/// An SLF4J binding that makes the server log to its output file, when present.
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";

/// A ZooKeeper installation: the JVM and the classpath to start it with.
#[derive(Debug, Clone)]
pub struct Installation {
    /// The `java` executable.
    pub java: PathBuf,
    /// The classpath holding `org.apache.zookeeper.server.*`.
    pub classpath: OsString,
}

impl Installation {
    /// Locates ZooKeeper and Java from the process environment.
    pub fn locate() -> Result<Self, Error> {
        Self::locate_with(
            env::var_os("ZOOKEEPER_CLASSPATH"),
            Path::new(DEBIAN_ZOOKEEPER_JAR),
            env::var_os("JAVA_HOME"),
            env::var_os("PATH"),
        )
    }

    /// Locates ZooKeeper and Java from explicit inputs: a classpath override,
    /// the default jar, `JAVA_HOME` and `PATH`.
    pub fn locate_with(
        classpath: Option<OsString>,
        default_jar: &Path,
        java_home: Option<OsString>,
        path: Option<OsString>,
    ) -> Result<Self, Error> {
        let classpath = match classpath.filter(|c| !c.is_empty()) {
            Some(classpath) if env::split_paths(&classpath).any(|entry| entry.exists()) => {
                classpath
            }
            Some(classpath) => {
                return Err(Error::NotInstalled(format!(
                    "ZooKeeper not found: ZOOKEEPER_CLASSPATH={} names nothing that exists; {INSTALL_HINT}",
                    classpath.to_string_lossy()
                )));
            }
            None if default_jar.is_file() => {
                let mut classpath = default_jar.as_os_str().to_owned();
                if Path::new(SLF4J_SIMPLE_JAR).is_file() {
                    classpath.push(":");
                    classpath.push(SLF4J_SIMPLE_JAR);
                }
                classpath
            }
            None => {
                return Err(Error::NotInstalled(format!(
                    "ZooKeeper not found: neither ZOOKEEPER_CLASSPATH is set nor {} exists; {INSTALL_HINT}",
                    default_jar.display()
                )));
            }
        };
        let java = find_java(java_home, path).ok_or_else(|| {
            Error::NotInstalled(format!(
                "Java not found: no `java` in JAVA_HOME/bin or on PATH; {INSTALL_HINT}"
            ))
        })?;
        Ok(Self { java, classpath })
    }
}

fn find_java(java_home: Option<OsString>, path: Option<OsString>) -> Option<PathBuf> {
    if let Some(home) = java_home {
        let java = Path::new(&home).join("bin/java");
        if java.is_file() {
            return Some(java);
        }
    }
    env::split_paths(&path?)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_zookeeper_names_the_install_command() {
        let err = Installation::locate_with(
            None,
            Path::new("/nonexistent/zookeeper.jar"),
            None,
            env::var_os("PATH"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ZooKeeper not found"), "{err}");
        assert!(err.contains("apt-get install -y zookeeper"), "{err}");
    }

    #[test]
    fn a_classpath_naming_nothing_names_the_install_command() {
        let err = Installation::locate_with(
            Some("/nonexistent/zookeeper.jar:/nonexistent/lib".into()),
            Path::new(DEBIAN_ZOOKEEPER_JAR),
            None,
            env::var_os("PATH"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("ZOOKEEPER_CLASSPATH=/nonexistent/zookeeper.jar"),
            "{err}"
        );
        assert!(err.contains("apt-get install -y zookeeper"), "{err}");
    }

    #[test]
    fn missing_java_names_the_install_command() {
        let err = Installation::locate_with(
            Some("/".into()),
            Path::new("/nonexistent"),
            None,
            Some("/nonexistent-bin".into()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Java not found"), "{err}");
        assert!(err.contains("default-jre-headless"), "{err}");
    }

    #[test]
    fn classpath_override_wins() {
        let found = Installation::locate_with(
            Some("/nonexistent/zk.jar:/".into()),
            Path::new("/nonexistent"),
            None,
            env::var_os("PATH"),
        )
        .unwrap();
        assert_eq!(found.classpath, "/nonexistent/zk.jar:/");
    }
}
