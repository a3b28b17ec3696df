"""Which Host headers the app answers to (assistant/api/limits.py), and that a redirect never names
the host a client sent. The bounds on connections and the concurrency cap are tested against a
real server in test_server.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from assistant.api.application import _as_path
from assistant.api.limits import AllowedHosts
from assistant.query.assistant import Assistant

LOCAL = ["localhost", "localhost:8000", "LocalHost", "127.0.0.1", "127.0.0.1:8000", "[::1]", "[::1]:8000", None]
FORGED = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example", "evil.example@localhost",
          "localhost/evil", "localhost:80x", "[::1", "", ":8000", "local host"]


@pytest.mark.parametrize("host", LOCAL)
def test_this_machine_is_allowed_by_any_name_of_its_own(host):
    assert AllowedHosts(None, served_host="127.0.0.1").allows(host)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", [*FORGED, "192.168.1.20:8000", "[fe80::1]"])
def test_other_names_and_addresses_are_refused(host):
    assert not AllowedHosts(None, served_host="127.0.0.1").allows(host)  # type: ignore[arg-type]


@pytest.mark.parametrize("served", ["0.0.0.0", "::"])
def test_on_every_interface_any_address_is_allowed_but_no_other_name(served):
    """Phones on the LAN type the machine's address; a name (a DNS-rebinding attacker's) is refused."""
    hosts = AllowedHosts(None, served_host=served)  # type: ignore[arg-type]
    for host in [*LOCAL, "192.168.1.20", "192.168.1.20:8000", "10.0.0.7:8000", "[fe80::1]:8000", "[2001:db8::5]"]:
        assert hosts.allows(host), host
    for host in [*FORGED, "rebind.attacker.example:8000", "192.168.1.20.nip.io"]:
        assert not hosts.allows(host), host


def test_listed_names_and_subdomains_are_allowed():
    hosts = AllowedHosts(None, served_host="192.168.1.20", extra=["assistant.example.org", "*.ngo.example"])  # type: ignore[arg-type]
    for host in ["192.168.1.20:8000", "assistant.example.org", "Assistant.Example.org:443", "help.ngo.example", "localhost"]:
        assert hosts.allows(host), host
    for host in ["ngo.example", "evil.example", "assistant.example.org.evil.example", "10.0.0.7"]:
        assert not hosts.allows(host), host
    assert AllowedHosts(None, served_host="127.0.0.1", extra=["*"]).allows("anything.example")  # type: ignore[arg-type]


def test_a_redirect_is_a_path_whatever_address_the_host_header_names(assistant):
    """Listening on every interface any address is a valid Host; Starlette's trailing-slash redirect
    writes it into Location, and the app sends the path alone."""
    app = create_app(Assistant(assistant.index, assistant.embedders,
                               assistant.settings.model_copy(update={"host": "0.0.0.0"})))
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, target in (("/healthz/", "/healthz"), ("/static", "/static/")):
            response = client.get(path, headers={"Host": "203.0.113.9:8000"}, follow_redirects=False)
            assert response.status_code == 307, (path, response.status_code)
            assert response.headers["location"] == target, path
        refused = client.get("/healthz", headers={"Host": "evil.example"})
        assert refused.status_code == 400 and "allowed_hosts" in refused.json()["error"]


def test_a_path_made_of_a_redirect_never_starts_with_two_slashes():
    """A browser reads `//name/...` as another host: the path keeps one leading slash."""
    assert _as_path(b"http://203.0.113.9:8000//evil.example/a?b=1#c", b"203.0.113.9:8000") == b"/evil.example/a?b=1#c"
    assert _as_path(b"http://localhost/\\evil.example", b"LOCALHOST") == b"/evil.example"
    assert _as_path(b"https://elsewhere.example/x", b"localhost") == b"https://elsewhere.example/x"
    assert _as_path(b"/operator", b"localhost") == b"/operator"
