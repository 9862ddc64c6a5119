"""Connection options: TLS verification with a CA certificate, --es-insecure, and credentials
read from AWS Secrets Manager or SSM (moto's server) instead of the command line."""

from __future__ import annotations

import base64
import json
import warnings

import boto3
import pytest
from elastic_transport import TlsError
from urllib3.exceptions import InsecureRequestWarning

from pipeline import cli
from pipeline.sinks.es_client import EsSettings, make_client, resolve_credentials

from .es_support import FaultProxy, self_signed_cert


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_tls_is_verified_against_the_given_ca(es_url, cert):
    with FaultProxy(es_url, lambda *a: None, tls=cert) as proxy:
        assert proxy.url.startswith("https://")
        client = make_client(EsSettings(url=proxy.url, ca_cert=cert[0], plain_json="on"))
        assert client.info()["version"]["number"]
        with pytest.raises(TlsError):  # verification is on by default: the system CAs do not know ours
            make_client(EsSettings(url=proxy.url, plain_json="on")).info()


def test_insecure_skips_verification_with_a_warning(es_url, cert):
    with FaultProxy(es_url, lambda *a: None, tls=cert) as proxy:
        with pytest.warns(UserWarning, match="verification is off"):
            client = make_client(EsSettings(url=proxy.url, insecure=True, plain_json="on"))
        with warnings.catch_warnings():  # urllib3 repeats it on every request
            warnings.simplefilter("ignore", InsecureRequestWarning)
            assert client.info()["version"]["number"]


def test_es_setup_over_tls_with_ca_cert_option(es_url, cert, capsys):
    with FaultProxy(es_url, lambda *a: None, tls=cert) as proxy:
        assert cli.main(["es-setup", "--es-url", proxy.url, "--es-ca-cert", cert[0]]) == 0
    assert "index templates:" in capsys.readouterr().out


@pytest.fixture()
def aws(moto_reset, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_reset)

    return boto3


def test_credentials_from_secrets_manager(aws, es_url, monkeypatch):
    aws.client("secretsmanager").create_secret(Name="coldtrace/es", SecretString=json.dumps(
        {"username": "ingest", "password": "s3cret"}))
    monkeypatch.delenv("ES_API_KEY", raising=False)
    settings = EsSettings(url=es_url, secret="secretsmanager:coldtrace/es", plain_json="on")
    creds = resolve_credentials(settings)
    assert creds.basic == ("ingest", "s3cret")
    assert "s3cret" not in repr(creds) and "s3cret" not in repr(settings)
    with FaultProxy(es_url, lambda *a: None) as proxy:
        make_client(EsSettings(url=proxy.url, secret=settings.secret, plain_json="on")).info()
    assert proxy.headers[0]["authorization"] == "Basic " + base64.b64encode(b"ingest:s3cret").decode()


def test_api_key_from_an_ssm_secure_string(aws, es_url):
    aws.client("ssm").put_parameter(Name="/coldtrace/es-api-key", Value="ZW5jb2RlZA==", Type="SecureString")
    creds = resolve_credentials(EsSettings(url=es_url, secret="ssm:/coldtrace/es-api-key"))
    assert creds.api_key == "ZW5jb2RlZA=="
    assert creds.http_header() == {"Authorization": "ApiKey ZW5jb2RlZA=="}


def test_the_secret_store_takes_precedence_over_the_environment(aws, es_url, monkeypatch):
    aws.client("secretsmanager").create_secret(Name="k", SecretString='{"api_key": "id1:k1"}')
    monkeypatch.setenv("ES_API_KEY", "from-env")
    assert resolve_credentials(EsSettings(url=es_url, secret="secretsmanager:k")).api_key == ("id1", "k1")
    assert resolve_credentials(EsSettings(url=es_url)).api_key == "from-env"
