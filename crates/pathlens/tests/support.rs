//! Running the binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub fn pathlens(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pathlens"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("PATHLENS_CONFIG")
        .env("PATHLENS_LOG", "warn")
        .output()
        .expect("run pathlens")
}

/// Runs and expects success; returns standard output.
pub fn ok(data_dir: &Path, args: &[&str]) -> String {
    let output = pathlens(data_dir, args);
    assert!(
        output.status.success(),
        "pathlens {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Creates a key and returns its token.
pub fn token(data_dir: &Path, kind: &str) -> String {
    let out = ok(
        data_dir,
        &["keys", "create", "--kind", kind, "--name", "test"],
    );
    out.lines()
        .find_map(|l| l.strip_prefix("token (shown once): "))
        .expect("token line")
        .trim()
        .to_string()
}

/// A server on a free loopback port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// A server with extra `PATHLENS_*` settings in its environment.
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pathlens"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("PATHLENS_LOG", "warn")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start server");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
