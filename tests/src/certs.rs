//! Certificates of the test's own, made with the `openssl` command: a CA, a server certificate
//! it signed for `localhost` and 127.0.0.1, and a second CA that signed nothing (for refusals).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestCertificates {
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCertificates {
    /// Writes the files into `dir`.
    pub fn create(dir: &Path) -> TestCertificates {
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let openssl = |args: &[&str]| {
            crate::run_ok(
                Command::new("openssl").args(args),
                &format!("openssl {args:?}"),
            );
        };
        for ca in ["ca", "wrong-ca"] {
            let subject = format!("/CN=b2 test {ca}");
            let (key, pem) = (path(&format!("{ca}.key")), path(&format!("{ca}.pem")));
            openssl(&[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
                "-keyout", &key, "-out", &pem,
            ]);
        }
        let (key, csr) = (path("server.key"), path("server.csr"));
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write the certificate extensions");
        let (ca, ca_key, ext, cert) = (
            path("ca.pem"),
            path("ca.key"),
            path("server.ext"),
            path("server.crt"),
        );
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ]);
        TestCertificates {
            ca: dir.join("ca.pem"),
            wrong_ca: dir.join("wrong-ca.pem"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        }
    }
}
