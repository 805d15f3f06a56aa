//! TLS for the connection, set by libpq's URL parameters (rustls with the
//! `ring` provider):
//!
//! | `sslmode` | TLS | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | no |
//! | `require` | always (refused without) | no; as `verify-ca` when a root certificate is given or `~/.postgresql/root.crt` exists (as libpq) |
//! | `verify-ca` | always | signed by a CA in `sslrootcert` |
//! | `verify-full` | always | as `verify-ca`, and valid for the host name in the URL |
//!
//! `sslrootcert=FILE`: the CA certificates (PEM) the server's certificate
//! must chain to (default, as libpq: `~/.postgresql/root.crt`).
//! `sslcert=FILE` and `sslkey=FILE`: a client certificate and its key
//! (PEM; for servers that authenticate clients by certificate; defaults
//! `~/.postgresql/postgresql.crt` and `postgresql.key`). As libpq, a key
//! that group or others may read is refused (mode 0600 or less, or 0640 or
//! less when owned by root); it is checked and read through one open file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, as libpq names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub(crate) fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode the `postgres` crate is given (it knows only these three).
    pub(crate) fn wire(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        }
    }
}

/// The TLS parameters of a store URL.
#[derive(Clone, Debug)]
pub(crate) struct TlsParams {
    pub(crate) mode: SslMode,
    pub(crate) rootcert: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

impl TlsParams {
    /// The mode in force: `require` with a CA file is `verify-ca` (libpq).
    pub(crate) fn effective_mode(&self) -> SslMode {
        if self.mode == SslMode::Require && self.rootcert.is_some() { SslMode::VerifyCa } else { self.mode }
    }
}

/// Builds the connector for `params`. Errors are sentences naming the file
/// or parameter at fault.
pub(crate) fn connector(params: &TlsParams) -> Result<MakeRustlsConnect, String> {
    // ring (a C/assembly build with only a C compiler) rather than aws-lc-rs;
    // rustls 0.23.48 deprecates ring's provider for its lack of
    // post-quantum key exchange, which PostgreSQL clients do not need yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mode = params.effective_mode();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(AcceptAny(provider.clone())),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let Some(file) = params.rootcert.clone() else {
                return Err(format!(
                    "sslmode={} checks the server's certificate and needs the CA certificate: give sslrootcert=FILE (a PEM file); libpq's default, ~/.postgresql/root.crt, does not exist",
                    mode.name()
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(&file, "sslrootcert")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: not a usable CA certificate: {e}", file.display()))?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("sslrootcert {}: {e}", file.display()))?;
            if mode == SslMode::VerifyFull { webpki } else { Arc::new(CaOnly(webpki)) }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&params.cert, &params.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "sslcert")?;
            let key_der = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("sslcert {} and sslkey {}: {e}", cert.display(), key.display()))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => return Err("sslcert is given without sslkey: give both (PEM files)".into()),
        (None, Some(_)) => return Err("sslkey is given without sslcert: give both (PEM files)".into()),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// Largest key file read.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Reads the client's private key, refusing (as libpq) a file that is not a
/// regular file or that group or others may read: mode 0600 or less, or
/// 0640 or less when owned by root. The checks are made on the open file
/// that is then read, so the file cannot be swapped in between.
fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, String> {
    use std::io::Read;
    let shown = file.display();
    let mut f = std::fs::File::open(file).map_err(|e| format!("sslkey {shown}: cannot open the private key: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("sslkey {shown}: cannot read its metadata: {e}"))?;
    if !meta.is_file() {
        return Err(format!("sslkey {shown}: not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        let forbidden = if meta.uid() == 0 { 0o037 } else { 0o077 };
        if mode & forbidden != 0 {
            return Err(format!(
                "sslkey {shown}: the private key file has group or world access (mode {mode:04o}); it must be u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root: run chmod 600 {shown}"
            ));
        }
    }
    let mut pem = Vec::new();
    (&mut f)
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("sslkey {shown}: cannot read the private key: {e}"))?;
    if pem.len() as u64 > MAX_KEY_FILE {
        return Err(format!("sslkey {shown}: larger than {MAX_KEY_FILE} bytes: not a private key"));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("sslkey {shown}: cannot read a private key (PEM): {e}"))
}

fn read_certs(file: &Path, param: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{param} {}: cannot read certificates (PEM): {e}", file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{param} {}: holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)",
            file.display()
        ));
    }
    Ok(certs)
}

/// `prefer` and `require`: encryption without checking who the server is
/// (as libpq); the handshake's signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the certificate must chain to a trusted CA; the host name
/// is not compared.
#[derive(Debug)]
struct CaOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A sentence saying why the TLS part of a connection failed, if it did.
pub(crate) fn explain(e: &postgres::Error, server: &str, host: &str, params: &TlsParams) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let text = crate::errors::detail(e);
    if text.contains("server does not support TLS") {
        return Some(format!(
            "the server at {server} does not support TLS (its `ssl` setting is off), and sslmode={} requires it: turn TLS on in the server, or use sslmode=prefer or disable on a trusted network",
            params.mode.name()
        ));
    }
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(describe(tls, server, host, params));
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(describe(tls, server, host, params));
        }
        source = cause.source();
    }
    None
}

fn describe(e: &rustls::Error, server: &str, host: &str, params: &TlsParams) -> String {
    let ca = params
        .rootcert
        .as_ref()
        .map_or_else(|| "sslrootcert".to_string(), |p| format!("sslrootcert ({})", p.display()));
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "unknown CA: the certificate of the server at {server} is not signed by a CA in {ca}: give the CA that signed the server's certificate"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "hostname mismatch: the certificate of the server at {server} is not valid for the host name {host:?} (sslmode=verify-full compares them): connect with a name the certificate lists, or use sslmode=verify-ca"
        ),
        rustls::Error::InvalidCertificate(c) => {
            format!("the certificate of the server at {server} was refused ({c:?}), checked against {ca}")
        }
        rustls::Error::AlertReceived(a) => format!(
            "the server at {server} ended the TLS handshake ({a:?}){}",
            if params.cert.is_some() { ": check sslcert and sslkey" } else { "" }
        ),
        other => format!("the TLS handshake with {server} failed: {other}"),
    }
}
