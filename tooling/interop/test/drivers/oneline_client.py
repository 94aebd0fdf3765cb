"""The original OnelineClient for the port in argv, driven over stdin/stdout."""
import socket
import struct
import sys

from channel import event, serve
from socket_oneline import OnelineClient

client = OnelineClient()
client.init(ip_address='127.0.0.1', ip_port=int(sys.argv[1]))


def connect():
    """Its connect(): ping, then up to 3 s for pong. Also says whether it left its socket open."""
    connected = client.connect()
    return {'connected': connected, 'socket_open': client._sock is not None}


def send(cmd):
    client.send(cmd)


def recv(timeout=3):
    return client.recv(timeout)


def send_recv(cmd, lines=1):
    client.send(cmd)
    return [client.recv() for _ in range(lines)]


def disconnect():
    client.disconnect()


def shutdown():
    client.shutdown()


def abort():
    """Resets the connection without a disconnect command: SO_LINGER 0 turns close into an RST."""
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    client._sock.close()
    client._sock = None


event('ready')
serve({'connect': connect, 'send': send, 'recv': recv, 'send_recv': send_recv, 'disconnect': disconnect, 'shutdown': shutdown, 'abort': abort})
