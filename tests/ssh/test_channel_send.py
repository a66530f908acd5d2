"""How stdin reaches a channel: every byte once and in order, one packet per call, and no endless loop
when the channel stops taking data (unit tests on a stand-in channel; no sshd needed)."""

from __future__ import annotations

import pytest

from dpdispatcher_ssh import session


class PacketChannel:
    """A channel that takes at most ``packet`` bytes per ``send`` (as paramiko does) and then, optionally, no more."""

    def __init__(self, packet: int, accept: int | None = None) -> None:
        self.packet = packet
        self.accept = accept
        self.received = bytearray()
        self.calls = 0
        self.closed = False

    def send(self, data) -> int:
        self.calls += 1
        if self.accept is not None and len(self.received) >= self.accept:
            self.closed = True  # the command ended: paramiko's send returns 0 once EOF is in
            return 0
        taken = bytes(data[: self.packet])
        self.received += taken
        return len(taken)


def test_every_byte_arrives_once_in_order_through_partial_sends():
    data = bytes(range(256)) * 4099  # not a multiple of the packet size
    channel = PacketChannel(packet=32704)
    session._send(channel, data)
    assert bytes(channel.received) == data
    assert channel.calls == -(-len(data) // 32704)


def test_a_channel_that_stops_taking_data_ends_the_send(monkeypatch):
    monkeypatch.setattr(session, "_link_gone", lambda channel: False)  # the command ended, not the link
    channel = PacketChannel(packet=1000, accept=3000)
    with pytest.raises(session._RemoteEnded):
        session._send(channel, b"x" * 10_000)
    assert bytes(channel.received) == b"x" * 3000
