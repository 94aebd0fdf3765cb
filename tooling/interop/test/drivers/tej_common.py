"""What the TEJ drivers share: frames built with the original's BytesBuilder from JSON arguments,
received frames reported as JSON, and errors of the original's threads reported as events."""
import base64
import hashlib
import threading

from channel import event
from tej_protoc import protocol


def file_data(spec):
    """{"text": ...} is UTF-8 text; {"pattern_bytes": N} is N bytes counting 0..255 over and over."""
    if 'text' in spec:
        return spec['text'].encode('utf-8')
    if 'base64' in spec:
        return base64.b64decode(spec['base64'])
    size = spec['pattern_bytes']
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def build(status=0, files=(), message=None, version=None):
    builder = protocol.BytesBuilder(status)
    if version is not None:
        builder.set_protocol_version(version)
    for spec in files:
        builder.add_file(spec['name'], file_data(spec))
    if message is not None:
        builder.set_message(message.encode('utf-8'))
    return builder.bytes()


def describe(files, message):
    return {
        'files': [{'name': f.name, 'size': f.size, 'sha256': hashlib.sha256(f.data).hexdigest()} for f in files],
        'message': None if message is None else message.decode('utf-8', 'replace'),
    }


def report_thread_errors():
    """The originals raise out of their reader threads; the test sees which error ended one."""
    def hook(args):
        event('thread_error', type=args.exc_type.__name__, message=str(args.exc_value))
    threading.excepthook = hook
