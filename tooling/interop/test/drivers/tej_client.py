"""The original TPClient, connected to the port in argv, driven over stdin/stdout.

Frames it receives are `frame` events, pings `ping` events; `disconnected` when its reader ends.
"""
import socket
import struct
import sys

from channel import event, serve
from tej_common import build, describe, report_thread_errors
from tej_protoc import callbacks, protocol
from tej_protoc.client import TPClient
from tej_protoc.ping import Ping


class Callback(callbacks.ResponseCallback):
    def received(self, files, message):
        event('frame', status=self.custom_status, version=self.protocol_version, **describe(files, message))

    def ping_received(self, files, message):
        event('ping', **describe(files, message))

    def disconnected(self):
        event('disconnected')


def send(status=0, files=(), message=None, version=None):
    protocol.send(client.get_client(), build(status, files, message, version))


def send_many(count):
    for i in range(count):
        protocol.send(client.get_client(), build(0, (), f'frame {i}'))


def ping():
    # The Ping helper sends its first ping at once; the next would come an hour later.
    Ping(client.get_client(), 3600).start()


def close():
    # shutdown sends the FIN and wakes the reader, which then closes the socket itself.
    client.get_client().shutdown(socket.SHUT_RDWR)


def abort_after(status=0, files=(), message=None, sent_bytes=0):
    """Sends the first `sent_bytes` of a frame, then resets the connection."""
    sock = client.get_client()
    sock.sendall(build(status, files, message)[:sent_bytes])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    # The reader wakes with nothing read and closes the socket: with linger 0, an RST.
    sock.shutdown(socket.SHUT_RD)


report_thread_errors()
client = TPClient('127.0.0.1', int(sys.argv[1]), Callback)
client.listen(run_background=True, is_daemon=True)
event('connected')
serve({'send': send, 'send_many': send_many, 'ping': ping, 'close': close, 'abort_after': abort_after})
