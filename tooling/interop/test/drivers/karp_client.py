"""The original KARPClient, connected to the port in argv, driven over stdin/stdout.

Its routes: ping (answers `pong(<text>)`) and fail (raises ValueError('client boom')); each call
is reported as a `handled` event. `closed` is reported when its read loop ends.
"""
import asyncio
import socket
import struct
import sys
import threading

from channel import event, serve
from karp.client import KARPClient

loop = asyncio.new_event_loop()
client = KARPClient('127.0.0.1', int(sys.argv[1]))


@client.add_route(route='ping')
def ping(request):
    event('handled', route=request.route, text=request.text, wants_reply=request.response)
    return f'pong({request.text})'


@client.add_route(route='fail')
def fail(request):
    event('handled', route=request.route, text=request.text, wants_reply=request.response)
    raise ValueError('client boom')


def call(coroutine, timeout=20):
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


def reply(response):
    return None if response is None else {'successful': response.successful, 'text': response.text}


async def open_connection():
    reading = await client.open()
    reading.add_done_callback(lambda _: event('closed'))


def request(route, text='', response=True):
    return reply(call(client.request(route, text, timeout=20, response=response)))


def gather(requests):
    """Sends every request before awaiting any reply: many in flight on one connection."""
    async def all_of():
        return await asyncio.gather(*(client.request(r['route'], r['text'], timeout=20) for r in requests))
    return [reply(response) for response in call(all_of())]


def close():
    async def closing():
        client.writer.close()
        await client.writer.wait_closed()
    call(closing())


def abort():
    """Resets the connection: SO_LINGER 0 turns the close into an RST."""
    async def aborting():
        client.writer.get_extra_info('socket').setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        client.writer.transport.abort()
    call(aborting())


threading.Thread(target=loop.run_forever, daemon=True).start()
call(open_connection())
event('connected')
serve({'request': request, 'gather': gather, 'close': close, 'abort': abort})
