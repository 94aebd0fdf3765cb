"""The original TPServer on 127.0.0.1, driven over stdin/stdout.

Every frame is reported as a `frame` event, every ping as `ping`; a frame with status 1 is sent
back to its sender as the original builds it (its BytesBuilder, its protocol.send). Connections
are numbered from 0 in the order they arrive (`connection` events); `send` and `ping` go to one.
The original's one send lock is announced (`send_lock`, with the connection whose echo took it),
so a test can tell when a send holds it.
"""
import threading

from channel import event, serve
from tej_common import build, describe, report_thread_errors
from tej_protoc import callbacks, protocol
from tej_protoc.ping import Ping
from tej_protoc.server import TPServer

ECHO = 1
clients = []
lock = threading.Lock()
sending = threading.local()


class AnnouncedLock:
    """The original's lock, still the one shared by every connection, reporting each hold."""

    def __init__(self, inner):
        self._inner = inner

    def __enter__(self):
        self._inner.acquire()
        event('send_lock', client=getattr(sending, 'client', None))
        return self

    def __exit__(self, *exc_info):
        self._inner.release()


protocol.send_lock = AnnouncedLock(protocol.send_lock)


class Callback(callbacks.ResponseCallback):
    def connected(self, client):
        with lock:
            self.number = len(clients)
            clients.append(client)
        event('connection', client=self.number)

    def received(self, files, message):
        event('frame', client=self.number, status=self.custom_status, version=self.protocol_version, **describe(files, message))
        if self.custom_status == ECHO:
            builder = protocol.BytesBuilder(ECHO)
            for f in files:
                builder.add_file(f.name, f.data)
            if message is not None:
                builder.set_message(message)
            data = builder.bytes()
            sending.client = self.number
            event('echoing', client=self.number)
            protocol.send(self.client, data)
            event('echoed', client=self.number)

    def ping_received(self, files, message):
        event('ping', client=self.number, **describe(files, message))

    def disconnected(self):
        event('disconnected', client=self.number)


def send(client, status=0, files=(), message=None):
    protocol.send(clients[client], build(status, files, message))


def ping(client):
    # The Ping helper sends its first ping at once; the next would come an hour later.
    Ping(clients[client], 3600).start()


report_thread_errors()
server = TPServer('127.0.0.1', 0, Callback)
server.listen(run_background=True, is_daemon=True)
event('listening', port=server.__server__.getsockname()[1])
serve({'send': send, 'ping': ping})
