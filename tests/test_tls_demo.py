"""The TLS demo serves the stage-04 reference over HTTPS: a client that trusts the local CA gets the
forecast, one that does not fails the handshake, and the key is never printed."""

from course import tls_demo

KNOWN_KEY = "tls-demo-test-key-0123456789abcdefghijklmnop"


def test_a_client_that_trusts_the_local_ca_gets_the_forecast_and_one_that_does_not_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(tls_demo.secrets, "token_urlsafe", lambda size=None: KNOWN_KEY)
    assert tls_demo.main() == 0
    printed = capsys.readouterr().out
    trusted, untrusted = printed.split("3. GET /health trusting only", 1)
    assert '200 {"status":"healthy"}' in trusted, printed
    assert "Tonight: 41°F, wind 5 mph NW." in trusted, printed
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted, printed
    assert "Tonight" not in untrusted, printed  # the untrusting client.py got nothing
    client_said = untrusted.split("4. client.py", 1)[1].split("5. GET", 1)[0]
    assert "TLS handshake" in client_said and "not trusted" in client_said, client_said
    assert "is it running" not in client_said, client_said  # it was running: the trust failed
    assert "server stopped" in printed
    assert KNOWN_KEY not in printed


def test_the_certificate_names_the_loopback_addresses(tmp_path):
    import ipaddress
    import ssl

    from cryptography import x509

    files = tls_demo.make_certificates(tmp_path)
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.cert), str(files.key))  # raises if the key does not match the certificate
    leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
