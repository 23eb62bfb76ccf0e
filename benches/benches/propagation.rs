//! Benchmark `propagation`; see the package README.

fn main() {
    eprintln!("propagation: not written yet");
    std::process::exit(1);
}
