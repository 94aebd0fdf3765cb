"""The line protocol between a test and a driver: commands on stdin, replies and events on stdout.

A command is one JSON line {"id": N, "op": NAME, "args": {...}}. Each runs in its own thread, so
a test may keep several in flight, and is answered by {"id": N, "ok": true, "result": ...} or
{"id": N, "ok": false, "error": "<Type>: <text>"}. Events are {"event": NAME, ...} lines written
whenever the original does something the test waits for. The end of stdin ends the driver.
"""
import json
import os
import sys
import threading

_out = threading.Lock()


def emit(message):
    line = json.dumps(message, ensure_ascii=True) + '\n'
    with _out:
        # One write per line, straight to the descriptor: the lines of threads (and of processes
        # forked by an original) never interleave, and nothing waits in a buffer.
        os.write(1, line.encode('ascii'))


def event(name, **fields):
    emit({'event': name, **fields})


def serve(ops):
    def run(message):
        try:
            result = ops[message['op']](**message.get('args', {}))
            emit({'id': message['id'], 'ok': True, 'result': result})
        except BaseException as error:  # noqa: BLE001 - every failure is the test's to judge
            emit({'id': message['id'], 'ok': False, 'error': f'{type(error).__name__}: {error}'})

    for line in sys.stdin:
        threading.Thread(target=run, args=(json.loads(line),), daemon=True).start()
    # Threads of the originals (their loops, their servers) are not daemons: leave at once.
    os._exit(0)
