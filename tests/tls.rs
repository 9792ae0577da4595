//! `roster serve --tls-cert FILE --tls-key FILE`: HTTPS (TLS 1.2 and 1.3) with a certificate
//! the test makes, plain HTTP refused on that port, and starts that cannot serve HTTPS (a
//! missing or unusable file, one flag without the other) refused with a message naming why.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Served {
    child: Child,
    /// `https://127.0.0.1:PORT/scim/v2`, as the server printed it.
    scim: String,
    /// `https://127.0.0.1:PORT`.
    origin: String,
    token: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
struct Certificate {
    dir: tempfile::TempDir,
    pem: String,
}

impl Certificate {
    fn new() -> Certificate {
        let made =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".into()])
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pem = made.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
        Certificate { dir, pem }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

fn database(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("roster.db").display())
}

/// Starts `roster serve` with TLS on a free port and waits for the line naming its address.
fn serve_tls(db: &str, cert: &Path, key: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            db,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster serve starts");
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    let scim = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if token.is_none() && line.starts_with("    ") {
            token = Some(line.trim().to_string());
        }
        if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        origin: scim.trim_end_matches("/scim/v2").to_string(),
        scim,
        token: token.expect("serve printed the default account's token"),
    }
}

/// A client that trusts only the test's certificate, on the TLS versions given.
fn client(cert_pem: &str, version: Option<reqwest::tls::Version>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap());
    if let Some(v) = version {
        b = b.min_tls_version(v).max_tls_version(v);
    }
    b.build().unwrap()
}

/// Runs `roster serve` expecting it to refuse to start; returns its stderr.
fn refused_start(db: &str, tls_args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database", db, "serve", "--listen", "127.0.0.1:0"])
        .args(tls_args)
        .env_remove("RUST_LOG")
        .env_remove("ROSTER_TLS_CERT")
        .env_remove("ROSTER_TLS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve should refuse to start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("Roster is serving"),
        "a refused start serves nothing: {stdout}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_generated_certificate_serves_health_and_scim() {
    let cert = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let s = serve_tls(&database(dir.path()), &cert.cert(), &cert.key());
    assert!(
        s.scim.starts_with("https://127.0.0.1:"),
        "the start line says https: {}",
        s.scim
    );

    let c = client(&cert.pem, None);
    let resp = c.get(format!("{}/healthz", s.origin)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let resp = c
        .get(format!("{}/Users", s.scim))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let list: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(list["totalResults"], 0, "{list}");

    // Okta's header style over HTTPS too.
    let resp = c
        .get(format!("{}/Groups", s.scim))
        .header("Authorization", &s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // TLS 1.2 and TLS 1.3 are both served.
    for v in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let resp = client(&cert.pem, Some(v))
            .get(format!("{}/healthz", s.origin))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{v:?}: {e:?}"));
        assert_eq!(resp.status().as_u16(), 200, "{v:?}");
    }

    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusting = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(untrusting
        .get(format!("{}/healthz", s.origin))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_https_port_fails() {
    let cert = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let s = serve_tls(&database(dir.path()), &cert.cert(), &cert.key());
    let plain = s.origin.replacen("https://", "http://", 1);
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(
        answer.is_err(),
        "plain HTTP got an HTTP answer: {:?}",
        answer.map(|r| r.status())
    );
}

#[test]
fn a_missing_key_file_is_named_and_nothing_is_created() {
    let cert = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-key.pem");
    let err = refused_start(
        &database(dir.path()),
        &[
            "--tls-cert".as_ref(),
            cert.cert().as_os_str(),
            "--tls-key".as_ref(),
            missing.as_os_str(),
        ],
    );
    assert!(
        err.contains(&missing.display().to_string()),
        "the error names the key file: {err}"
    );
    assert!(err.contains("private key"), "{err}");
    assert!(
        !dir.path().join("roster.db").exists(),
        "a start that cannot serve HTTPS creates no database"
    );
}

#[test]
fn files_that_are_not_pem_are_named() {
    let cert = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let db = database(dir.path());

    // A certificate file with no certificate in it.
    let err = refused_start(
        &db,
        &[
            "--tls-cert".as_ref(),
            junk.as_os_str(),
            "--tls-key".as_ref(),
            cert.key().as_os_str(),
        ],
    );
    assert!(err.contains(&junk.display().to_string()), "{err}");
    assert!(err.contains("certificate"), "{err}");

    // A key file that holds a certificate, not a key.
    let err = refused_start(
        &db,
        &[
            "--tls-cert".as_ref(),
            cert.cert().as_os_str(),
            "--tls-key".as_ref(),
            cert.cert().as_os_str(),
        ],
    );
    assert!(err.contains(&cert.cert().display().to_string()), "{err}");
    assert!(err.contains("private key"), "{err}");

    // A key that is not the certificate's.
    let other = Certificate::new();
    let err = refused_start(
        &db,
        &[
            "--tls-cert".as_ref(),
            cert.cert().as_os_str(),
            "--tls-key".as_ref(),
            other.key().as_os_str(),
        ],
    );
    assert!(err.contains(&other.key().display().to_string()), "{err}");
}

#[test]
fn one_tls_flag_without_the_other_is_refused() {
    let cert = Certificate::new();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let err = refused_start(&db, &["--tls-cert".as_ref(), cert.cert().as_os_str()]);
    assert!(err.contains("--tls-key"), "{err}");
    let err = refused_start(&db, &["--tls-key".as_ref(), cert.key().as_os_str()]);
    assert!(err.contains("--tls-cert"), "{err}");
}
