"""The stand-in Postmark (tests/support/fake_provider.py) counts only what arrived."""

import socket
import urllib.parse

from tests.support.fake_provider import running_fake_postmark


def test_a_request_whose_sender_died_before_its_body_is_not_accepted():
    """A sender killed between its headers and its body submitted nothing: the
    fault suite must not count it as an email the provider accepted."""
    with running_fake_postmark() as fake:
        address = urllib.parse.urlsplit(fake.url)
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            client.sendall(
                b"POST /email HTTP/1.1\r\nHost: postmark\r\nContent-Type: application/json\r\n"
                b"Content-Length: 512\r\n\r\n"
            )
            client.shutdown(socket.SHUT_WR)  # dead: no body will come
            answer = b""
            while chunk := client.recv(4096):  # until the server closes its side
                answer += chunk

        assert answer == b""
        assert fake.requests() == []
        assert fake.accepted == []
