//! The `tidecast` binary.

fn main() -> std::process::ExitCode {
    tidecast::main()
}
