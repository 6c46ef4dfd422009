//! The dashboard is compiled into the binary from `web/dist`, which
//! `scripts/build-web` makes with npm. Without it the build stops here with
//! a message that says what to do, rather than serving a blank page later.

use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dist = Path::new(&manifest).join("../../web/dist");
    println!("cargo:rerun-if-changed=../../web/dist");
    if !dist.join("index.html").is_file() {
        eprintln!();
        eprintln!(
            "error: the dashboard is not built: run scripts/build-web (needs Node.js and npm)"
        );
        eprintln!("       (expected {})", dist.join("index.html").display());
        eprintln!();
        std::process::exit(1);
    }
}
