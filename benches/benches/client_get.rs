//! Benchmark `client_get`; see the package README.

fn main() {
    eprintln!("client_get: not written yet");
    std::process::exit(1);
}
