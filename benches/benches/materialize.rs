//! Benchmark `materialize`; see the package README.

fn main() {
    eprintln!("materialize: not written yet");
    std::process::exit(1);
}
