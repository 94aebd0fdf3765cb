"""The original OnelineServer on 127.0.0.1, driven over stdin/stdout.

Its callback answers as the one the vectors were captured with: cmd01 -> ack; multi -> r1, r2,
r3; silent -> nothing; anything else -> cb:<JSON of the command>:<is_invalid>; plus unicode ->
one line of non-ASCII text. Each call is a `command` event. When the server's thread ends (a
shutdown, or a reset that kills it) the driver reports `stopped` and exits, as the sample's
wait_until_done() returns; its listening socket goes with the process.
"""
import json
import os
import socket
import threading

from channel import event, serve
from socket_oneline import OnelineServer

server = OnelineServer()


def callback(cmd, is_invalid):
    event('command', text=cmd, invalid=is_invalid)
    if cmd == 'cmd01':
        server.send('ack')
    elif cmd == 'multi':
        for line in ('r1', 'r2', 'r3'):
            server.send(line)
    elif cmd == 'silent':
        pass
    elif cmd == 'unicode':
        server.send('héllo ✓ 日本語')
    else:
        server.send(f'cb:{json.dumps(cmd)}:{is_invalid}')


def listening():
    # The server binds and listens on its own thread: wait for the socket to accept.
    while True:
        sock = server._server
        if sock is not None and sock.fileno() != -1:
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    return sock.getsockname()[1]
            except OSError:
                pass
        threading.Event().wait(0.01)


def stopped():
    server._thread.join()
    event('stopped')
    os._exit(0)


server.start(ip_address='127.0.0.1', ip_port=0, callback=callback)
event('listening', port=listening())
threading.Thread(target=stopped, daemon=True).start()
serve({})
